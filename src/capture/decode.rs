//! Turning a captured body into something a person can read: undo `Content-Encoding`
//! (gzip, deflate, br, zstd), pretty-print JSON, and summarise binary data. Used by the
//! TUI's Body tab and by HAR export (which stores decoded content).

use std::io::Read;

/// Most bytes a decoded body may grow to. Protects the UI from decompression bombs; a
/// body that decodes past it is shown truncated.
pub const MAX_DECODED_BYTES: usize = 16 * 1024 * 1024;

/// A decoding failure, shown instead of the body.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("unsupported content-encoding `{0}`")]
    Unsupported(String),
    #[error("{encoding} data is corrupt: {detail}")]
    Corrupt { encoding: String, detail: String },
}

/// The decoded body and whether it was cut at [`MAX_DECODED_BYTES`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    pub bytes: Vec<u8>,
    pub truncated: bool,
}

/// Undo the codings listed in a `Content-Encoding` value (applied in order, so they are
/// undone in reverse). `identity` and an empty value leave the bytes as they are.
pub fn decode_content(encoding: Option<&str>, body: &[u8]) -> Result<Decoded, DecodeError> {
    let codings: Vec<String> = encoding
        .unwrap_or("")
        .split(',')
        .map(|c| c.trim().to_ascii_lowercase())
        .filter(|c| !c.is_empty() && c != "identity")
        .collect();
    let mut data = Decoded {
        bytes: body.to_vec(),
        truncated: false,
    };
    for coding in codings.iter().rev() {
        let next = decode_one(coding, &data.bytes)?;
        data = Decoded {
            bytes: next.bytes,
            truncated: data.truncated || next.truncated,
        };
    }
    Ok(data)
}

fn decode_one(coding: &str, body: &[u8]) -> Result<Decoded, DecodeError> {
    let corrupt = |e: std::io::Error| DecodeError::Corrupt {
        encoding: coding.to_owned(),
        detail: e.to_string(),
    };
    match coding {
        "gzip" | "x-gzip" => read_limited(flate2::read::MultiGzDecoder::new(body)).map_err(corrupt),
        // `deflate` is meant to be zlib-wrapped, but some servers send raw deflate.
        "deflate" => read_limited(flate2::read::ZlibDecoder::new(body))
            .or_else(|_| read_limited(flate2::read::DeflateDecoder::new(body)))
            .map_err(corrupt),
        "br" => read_limited(brotli_decompressor::Decompressor::new(body, 4096)).map_err(corrupt),
        "zstd" => {
            let mut src = body;
            let decoder = ruzstd::decoding::StreamingDecoder::new(&mut src).map_err(|e| {
                DecodeError::Corrupt {
                    encoding: coding.to_owned(),
                    detail: e.to_string(),
                }
            })?;
            read_limited(decoder).map_err(corrupt)
        }
        other => Err(DecodeError::Unsupported(other.to_owned())),
    }
}

fn read_limited(reader: impl Read) -> std::io::Result<Decoded> {
    let mut out = Vec::new();
    let n = reader
        .take(MAX_DECODED_BYTES as u64 + 1)
        .read_to_end(&mut out)?;
    let truncated = n > MAX_DECODED_BYTES;
    out.truncate(MAX_DECODED_BYTES);
    Ok(Decoded {
        bytes: out,
        truncated,
    })
}

/// How a decoded body is best shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rendered {
    Empty,
    /// JSON, re-indented.
    Json(String),
    /// Text (UTF-8).
    Text(String),
    /// Binary: size and a hex dump of the first bytes.
    Binary {
        size: usize,
        hex: String,
    },
}

/// Bytes of a binary body shown in the hex summary.
pub const HEX_PREVIEW_BYTES: usize = 256;

/// Render decoded bytes: JSON pretty-printed when it parses (by content type or shape),
/// UTF-8 text as is, anything else as a hex summary.
pub fn render(content_type: Option<&str>, bytes: &[u8]) -> Rendered {
    if bytes.is_empty() {
        return Rendered::Empty;
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Rendered::Binary {
            size: bytes.len(),
            hex: hex_dump(&bytes[..bytes.len().min(HEX_PREVIEW_BYTES)]),
        };
    };
    let looks_json = content_type.is_some_and(|ct| {
        let ct = ct.to_ascii_lowercase();
        ct.contains("json")
    }) || matches!(text.trim_start().as_bytes().first(), Some(b'{' | b'['));
    if looks_json {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(text) {
            if let Ok(pretty) = serde_json::to_string_pretty(&v) {
                return Rendered::Json(pretty);
            }
        }
    }
    Rendered::Text(text.to_owned())
}

/// `offset  hex bytes  ascii`, 16 bytes a line.
pub fn hex_dump(bytes: &[u8]) -> String {
    let mut out = String::new();
    for (i, chunk) in bytes.chunks(16).enumerate() {
        let hex: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
        let ascii: String = chunk
            .iter()
            .map(|&b| {
                if b.is_ascii_graphic() || b == b' ' {
                    b as char
                } else {
                    '.'
                }
            })
            .collect();
        out.push_str(&format!(
            "{:08x}  {:<47}  {}\n",
            i * 16,
            hex.join(" "),
            ascii
        ));
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use std::io::Write;

    const TEXT: &[u8] = b"{\"items\":[1,2,3],\"next\":null}";

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn undoes_each_coding() {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(TEXT).unwrap();
        let zlib = z.finish().unwrap();
        let mut d = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        d.write_all(TEXT).unwrap();
        let raw_deflate = d.finish().unwrap();
        let mut br = Vec::new();
        {
            let mut w = brotli::CompressorWriter::new(&mut br, 4096, 5, 22);
            w.write_all(TEXT).unwrap();
        }
        let zstd =
            ruzstd::encoding::compress_to_vec(TEXT, ruzstd::encoding::CompressionLevel::Fastest);
        for (enc, body) in [
            ("gzip", gzip(TEXT)),
            ("deflate", zlib),
            ("deflate", raw_deflate),
            ("br", br),
            ("zstd", zstd),
            ("identity", TEXT.to_vec()),
        ] {
            let got = decode_content(Some(enc), &body).unwrap();
            assert_eq!(got.bytes, TEXT, "{enc}");
            assert!(!got.truncated);
        }
        assert_eq!(decode_content(None, TEXT).unwrap().bytes, TEXT);
    }

    #[test]
    fn stacked_codings_are_undone_in_reverse() {
        let twice = gzip(&gzip(TEXT));
        assert_eq!(
            decode_content(Some("gzip, gzip"), &twice).unwrap().bytes,
            TEXT
        );
    }

    #[test]
    fn corrupt_and_unknown_codings_are_errors() {
        assert!(matches!(
            decode_content(Some("gzip"), b"not gzip at all"),
            Err(DecodeError::Corrupt { .. })
        ));
        assert_eq!(
            decode_content(Some("compress"), b"x"),
            Err(DecodeError::Unsupported("compress".into()))
        );
    }

    #[test]
    fn bombs_stop_at_the_cap() {
        let big = vec![0u8; MAX_DECODED_BYTES + 10];
        let got = decode_content(Some("gzip"), &gzip(&big)).unwrap();
        assert!(got.truncated);
        assert_eq!(got.bytes.len(), MAX_DECODED_BYTES);
    }

    #[test]
    fn renders_json_text_and_binary() {
        assert!(
            matches!(render(Some("application/json"), TEXT), Rendered::Json(s) if s.contains("\n  \"items\""))
        );
        assert!(matches!(render(None, TEXT), Rendered::Json(_)));
        assert_eq!(
            render(Some("text/plain"), b"hi"),
            Rendered::Text("hi".into())
        );
        assert_eq!(render(None, b"{broken"), Rendered::Text("{broken".into()));
        match render(None, &[0xff, 0x00, 0x41]) {
            Rendered::Binary { size, hex } => {
                assert_eq!(size, 3);
                assert!(hex.starts_with("00000000  ff 00 41"), "{hex}");
                assert!(hex.trim_end().ends_with("..A"), "{hex}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(render(None, b""), Rendered::Empty);
    }
}
