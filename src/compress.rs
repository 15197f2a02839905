//! Content-codings: the one place bodies are compressed (gzip and brotli), once per version of
//! a document, on the server's first request for it. A compressor that fails gives no variant
//! (the identity bytes are served), never a partial one.

use std::io::Write;

/// A content-coding we can send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    /// No compression.
    Identity,
    /// gzip
    Gzip,
    /// brotli
    Brotli,
}

impl Coding {
    /// The `Content-Encoding` token.
    pub fn token(self) -> &'static str {
        match self {
            Coding::Identity => "identity",
            Coding::Gzip => "gzip",
            Coding::Brotli => "br",
        }
    }
}

/// Bodies smaller than this are not worth compressing.
const MIN_COMPRESS_BYTES: usize = 256;

/// gzip level: 6, zlib's default, is where its size curve flattens.
const GZIP_LEVEL: u32 = 6;

/// Brotli quality: 5 compresses feeds within a few percent of 11 at a fraction of the time.
const BROTLI_QUALITY: i32 = 5;

/// Brotli's window (log2 bytes): sized to the input within these bounds, which keeps the
/// encoder from allocating (and zeroing) megabytes for a small body.
const BROTLI_WINDOW_BITS: std::ops::RangeInclusive<u32> = 18..=22;

/// The compressed variants of a body, each kept only when it was produced whole and is
/// smaller than the identity bytes.
#[derive(Debug, Default)]
pub struct Compressed {
    pub gzip: Option<Vec<u8>>,
    pub br: Option<Vec<u8>>,
}

/// Compresses `body` with gzip and brotli (nothing for bodies too small to gain).
pub fn compress(body: &[u8]) -> Compressed {
    if body.len() < MIN_COMPRESS_BYTES {
        return Compressed::default();
    }
    let smaller = |variant: std::io::Result<Vec<u8>>, coding: Coding| match variant {
        Ok(bytes) => Some(bytes).filter(|b| b.len() < body.len()),
        Err(e) => {
            tracing::error!(error = %e, coding = coding.token(), "compression failed; serving identity");
            None
        }
    };
    Compressed {
        gzip: smaller(gzip(body), Coding::Gzip),
        br: smaller(brotli(body), Coding::Brotli),
    }
}

fn gzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(bytes.len() / 3),
        flate2::Compression::new(GZIP_LEVEL),
    );
    encoder.write_all(bytes)?;
    encoder.finish()
}

fn brotli(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(bytes.len() / 3);
    let bits = (usize::BITS - bytes.len().max(1).leading_zeros())
        .clamp(*BROTLI_WINDOW_BITS.start(), *BROTLI_WINDOW_BITS.end());
    let params = brotli::enc::BrotliEncoderParams {
        quality: BROTLI_QUALITY,
        lgwin: bits as i32,
        size_hint: bytes.len(),
        ..Default::default()
    };
    let mut input = bytes;
    brotli::BrotliCompress(&mut input, &mut out, &params)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_codings_round_trip_and_small_bodies_stay_identity() {
        let body = "<p>hello world</p>\n".repeat(100).into_bytes();
        let variants = compress(&body);
        let gz = variants.gzip.expect("a gzip variant");
        let mut decoded = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut decoded)
            .expect("gunzip");
        assert_eq!(decoded, body);
        let mut unbr = Vec::new();
        brotli::BrotliDecompress(&mut &variants.br.expect("a brotli variant")[..], &mut unbr)
            .expect("unbrotli");
        assert_eq!(unbr, body);
        assert!(compress(b"tiny").gzip.is_none());
    }

    /// Incompressible bytes give no variant: a larger one would only cost.
    #[test]
    fn a_variant_larger_than_the_body_is_dropped() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let noise: Vec<u8> = (0..4096)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        let variants = compress(&noise);
        assert!(variants.gzip.is_none() && variants.br.is_none());
    }
}
