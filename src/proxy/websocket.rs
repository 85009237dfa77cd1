//! Upgrades (WebSocket and any other HTTP/1.1 `Upgrade`): once the upstream answered
//! 101 and the client received it, both connections are handed over and bytes are copied
//! both ways. The handshake itself is recorded like any exchange; frames are not.

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

use super::ConnCtx;

/// Join the client's and the upstream's upgraded connections in a background task that
/// ends when either side closes or the proxy shuts down.
pub(crate) fn splice(ctx: &ConnCtx, client: OnUpgrade, upstream: OnUpgrade) {
    let shutdown = ctx.shared.shutdown.clone();
    ctx.shared.tracker.spawn(async move {
        let (client, upstream) = match tokio::try_join!(client, upstream) {
            Ok(pair) => pair,
            Err(e) => {
                tracing::debug!(error = %e, "upgrade did not complete");
                return;
            }
        };
        let mut client = TokioIo::new(client);
        let mut upstream = TokioIo::new(upstream);
        tokio::select! {
            result = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "upgraded connection closed with an error");
                }
            }
            () = shutdown.cancelled() => {}
        }
    });
}
