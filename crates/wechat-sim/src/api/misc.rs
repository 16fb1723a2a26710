//! `cgi-bin/media/uploadimg` and `wxa/getwxacodeunlimit`.

use serde_json::json;

use crate::api::ok;
use crate::errors::WxError;
use crate::ids;
use crate::request::{fields, ApiCtx, ApiResult, Reply};
use crate::sim::{Media, Simulator};

const MAX_IMAGE_BYTES: usize = 1024 * 1024;

/// The contents and file name of the multipart field `name`.
fn multipart_field<'a>(content_type: &str, body: &'a [u8], name: &str) -> Option<&'a [u8]> {
    let boundary = content_type
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))?
        .trim_matches('"');
    let delim = format!("--{boundary}");
    let delim = delim.as_bytes();
    let mut starts = Vec::new();
    let mut i = 0;
    while i + delim.len() <= body.len() {
        if &body[i..i + delim.len()] == delim {
            starts.push(i);
            i += delim.len();
        } else {
            i += 1;
        }
    }
    for pair in starts.windows(2) {
        let part = &body[pair[0] + delim.len()..pair[1]];
        let part = part.strip_prefix(b"\r\n").unwrap_or(part);
        let split = part.windows(4).position(|w| w == b"\r\n\r\n")?;
        let headers = String::from_utf8_lossy(&part[..split]);
        let content = &part[split + 4..];
        let content = content.strip_suffix(b"\r\n").unwrap_or(content);
        let wanted = format!("name=\"{name}\"");
        if headers.lines().any(|h| {
            h.to_ascii_lowercase().starts_with("content-disposition") && h.contains(&wanted)
        }) {
            return Some(content);
        }
    }
    None
}

/// `POST cgi-bin/media/uploadimg` (multipart field `buffer`, JPG/PNG ≤ 1 MB) → `{"url"}`.
pub(crate) fn uploadimg(sim: &Simulator, ctx: &ApiCtx<'_>) -> ApiResult {
    let data = multipart_field(&ctx.content_type, ctx.body, "buffer")
        .filter(|d| !d.is_empty())
        .ok_or_else(|| WxError::new(41005))?;
    if data.len() > MAX_IMAGE_BYTES {
        return Err(WxError::new(40009));
    }
    let ext = if data.starts_with(b"\x89PNG\r\n\x1a\n") {
        "png"
    } else if data.starts_with(&[0xff, 0xd8, 0xff]) {
        "jpg"
    } else {
        return Err(WxError::new(40005));
    };
    let mut st = sim.state();
    let url = ids::media_url(&mut st.rng, ext);
    st.media.push(Media {
        url: url.clone(),
        app_id: ctx.app_id.clone(),
        bytes: data.len(),
    });
    Ok(ok([("url", json!(url))]))
}

const SCENE_EXTRA: &str = "!#$&'()*+,/:;=?@-._~";

/// `POST wxa/getwxacodeunlimit` → a PNG whose `tEXt` chunk carries the scene and page.
pub(crate) fn wxacode_unlimit(_sim: &Simulator, ctx: &ApiCtx<'_>) -> ApiResult {
    let body = ctx.json()?;
    let scene = fields::req_string(&body, "scene")?;
    if scene.chars().count() > 32 {
        return Err(WxError::new(45021));
    }
    if !scene
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || SCENE_EXTRA.contains(c))
    {
        return Err(WxError::new(47001));
    }
    let page = fields::string(&body, "page")?.unwrap_or_default();
    fields::boolean(&body, "check_path")?;
    fields::boolean(&body, "auto_color")?;
    fields::boolean(&body, "is_hyaline")?;
    if let Some(env) = fields::string(&body, "env_version")? {
        if !matches!(env, "release" | "trial" | "develop") {
            return Err(WxError::new(47001));
        }
    }
    fields::int(&body, "width")?;
    Ok(Reply::Png(png::code_image(scene, page)))
}

/// A hand-rolled PNG encoder: enough for a small grey code image, without an image crate.
pub(crate) mod png {
    const SIZE: usize = 21;

    fn crc32(data: &[u8]) -> u32 {
        let mut crc = 0xffff_ffffu32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xedb8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    fn adler32(data: &[u8]) -> u32 {
        let (mut a, mut b) = (1u32, 0u32);
        for &d in data {
            a = (a + u32::from(d)) % 65_521;
            b = (b + a) % 65_521;
        }
        (b << 16) | a
    }

    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32(&body).to_be_bytes());
    }

    /// A 21×21 greyscale pattern derived from the scene, with `scene` and `page` in `tEXt` chunks.
    pub(crate) fn code_image(scene: &str, page: &str) -> Vec<u8> {
        let mut seed = 0xcbf2_9ce4_8422_2325u64;
        for b in scene.bytes().chain(page.bytes()) {
            seed = (seed ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        let mut raw = Vec::with_capacity(SIZE * (SIZE + 1));
        for _ in 0..SIZE {
            let row = (0..SIZE).map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                if seed & 1 == 0 {
                    0x00
                } else {
                    0xff
                }
            });
            raw.push(0); // filter type: none
            raw.extend(row.collect::<Vec<u8>>());
        }
        // zlib stream with one stored (uncompressed) deflate block.
        let len = u16::try_from(raw.len()).unwrap_or(u16::MAX);
        let mut z = vec![0x78, 0x01, 0x01];
        z.extend_from_slice(&len.to_le_bytes());
        z.extend_from_slice(&(!len).to_le_bytes());
        z.extend_from_slice(&raw);
        z.extend_from_slice(&adler32(&raw).to_be_bytes());

        let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
        let size = u32::try_from(SIZE).unwrap_or(1).to_be_bytes();
        let mut ihdr = Vec::new();
        ihdr.extend_from_slice(&size);
        ihdr.extend_from_slice(&size);
        ihdr.extend_from_slice(&[8, 0, 0, 0, 0]); // 8-bit greyscale, no interlace
        chunk(&mut out, b"IHDR", &ihdr);
        chunk(&mut out, b"tEXt", format!("scene\0{scene}").as_bytes());
        chunk(&mut out, b"tEXt", format!("page\0{page}").as_bytes());
        chunk(&mut out, b"IDAT", &z);
        chunk(&mut out, b"IEND", &[]);
        out
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn crc_and_adler_match_known_values() {
            assert_eq!(super::crc32(b"IEND"), 0xae42_6082);
            assert_eq!(super::adler32(b"Wikipedia"), 0x11e6_0398);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_finds_the_buffer_field() {
        let body = b"--XX\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nnope\r\n--XX\r\nContent-Disposition: form-data; name=\"buffer\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\nDATA\r\n--XX--\r\n";
        assert_eq!(
            multipart_field("multipart/form-data; boundary=XX", body, "buffer"),
            Some(&b"DATA"[..])
        );
        assert_eq!(
            multipart_field("multipart/form-data; boundary=XX", body, "media"),
            None
        );
    }
}
