//! Property test: the engine never panics, whatever bytes the headers carry.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{TimeZone, Utc};
use corscope::capture::exchange::decode_header_bytes;
use corscope::capture::{Exchange, Header, HeaderList, ResponseRecord};
use corscope::cors::{self, Profile};
use proptest::prelude::*;

const NAMES: &[&str] = &[
    "Origin",
    "Access-Control-Allow-Origin",
    "Access-Control-Allow-Credentials",
    "Access-Control-Allow-Methods",
    "Access-Control-Allow-Headers",
    "Access-Control-Expose-Headers",
    "Access-Control-Max-Age",
    "Access-Control-Request-Method",
    "Access-Control-Request-Headers",
    "Content-Type",
    "Range",
    "Accept",
    "Content-Language",
    "Cookie",
    "Authorization",
    "Location",
    "Sec-Fetch-Mode",
    "Sec-Fetch-Site",
    "Vary",
];

fn header() -> impl Strategy<Value = Header> {
    let name = prop_oneof![
        proptest::sample::select(NAMES).prop_map(str::to_owned),
        proptest::collection::vec(any::<u8>(), 0..12).prop_map(|b| decode_header_bytes(&b)),
    ];
    let value = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..200).prop_map(|b| decode_header_bytes(&b)),
        proptest::sample::select(
            &[
                "*",
                "null",
                "true",
                "http://a.test",
                "GET, PUT",
                "bytes=0-1",
                "text/plain",
                "http://a.test:8080/x",
                "/relative",
                "http://u:p@b.test/",
            ][..]
        )
        .prop_map(str::to_owned),
    ];
    (name, value).prop_map(|(n, v)| Header::new(n, v))
}

fn exchange() -> impl Strategy<Value = Exchange> {
    (
        proptest::sample::select(&["GET", "OPTIONS", "PUT", "patch", "POST", "FOO", ""][..]),
        proptest::sample::select(
            &[
                "http://b.test/x",
                "http://a.test/x",
                "https://b.test:8443/y?q#f",
                "not a url",
                "",
            ][..],
        ),
        proptest::collection::vec(header(), 0..10),
        proptest::collection::vec(header(), 0..10),
        proptest::option::of(any::<u16>()),
        0i64..20_000,
    )
        .prop_map(|(method, url, req, resp, status, ms)| {
            let mut e = Exchange {
                started: Utc.timestamp_millis_opt(1_700_000_000_000 + ms).unwrap(),
                ..Exchange::default()
            };
            e.request.method = method.to_owned().into();
            e.request.url = url.to_owned();
            e.request.headers = req.into_iter().collect::<HeaderList>();
            e.response = status.map(|s| ResponseRecord {
                status: s,
                headers: resp.into_iter().collect(),
                ..ResponseRecord::default()
            });
            e
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn evaluate_never_panics(pf in exchange(), actual in exchange()) {
        for p in [Profile::Chrome, Profile::Firefox, Profile::Spec] {
            let _ = cors::evaluate(Some(&pf), &actual, p);
            let _ = cors::evaluate(None, &actual, p);
        }
    }

    #[test]
    fn analyze_never_panics(mut exs in proptest::collection::vec(exchange(), 0..12)) {
        for (i, e) in exs.iter_mut().enumerate() {
            e.id = i as u64;
        }
        for p in [Profile::Chrome, Profile::Firefox, Profile::Spec] {
            let v = cors::analyze(&exs, p);
            prop_assert_eq!(v.len(), exs.len());
            for (i, v) in v.iter().enumerate() {
                prop_assert_eq!(v.exchange, i as u64);
                prop_assert!(serde_json::to_string(v).is_ok());
            }
        }
    }
}
