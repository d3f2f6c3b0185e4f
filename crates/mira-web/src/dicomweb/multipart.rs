//! `multipart/related` response bodies (RFC 2387, PS3.18 §8.6.1.2), streamed part by part.
//!
//! Requests are parsed with `multer` (see `stow`); this module writes responses. A part is
//! either bytes in memory (frames, bulk data) or a stored file, read in chunks so that a
//! study of many large instances never sits in memory whole.

use std::hash::{BuildHasher, Hasher};
use std::path::PathBuf;

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::{self, BoxStream, StreamExt};
use tokio::io::AsyncReadExt;

/// Size of the chunks a stored file is sent in.
const CHUNK: usize = 256 * 1024;

/// What a part carries.
pub enum PartBody {
    /// Bytes in memory.
    Bytes(Bytes),
    /// A whole file, read as the response is sent.
    File(PathBuf),
    /// Bytes made when the part is due (a converted instance), so that only one such part
    /// is in memory at a time.
    Deferred(BoxFuture<'static, std::io::Result<Bytes>>),
}

impl std::fmt::Debug for PartBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PartBody::Bytes(b) => f.debug_tuple("Bytes").field(&b.len()).finish(),
            PartBody::File(p) => f.debug_tuple("File").field(p).finish(),
            PartBody::Deferred(_) => f.write_str("Deferred"),
        }
    }
}

/// One part of a multipart response.
#[derive(Debug)]
pub struct Part {
    /// Its `Content-Type`.
    pub content_type: String,
    /// Its `Content-Location`, if any.
    pub content_location: Option<String>,
    /// Its body.
    pub body: PartBody,
}

/// A boundary that does not occur in the parts: 128 random bits.
pub fn new_boundary() -> String {
    let random = |salt: u64| {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(salt);
        h.finish()
    };
    format!("mira-{:016x}{:016x}", random(1), random(2))
}

/// A `200 OK` `multipart/related; type="<part_type>"` response of `parts`.
pub fn response(part_type: &str, parts: Vec<Part>) -> Response {
    let boundary = new_boundary();
    let content_type = format!("multipart/related; type=\"{part_type}\"; boundary={boundary}");
    let closing = Bytes::from(format!("--{boundary}--\r\n"));
    let body = stream::iter(parts)
        .flat_map(move |part| part_stream(&boundary, part))
        .chain(stream::once(async move { Ok(closing) }));
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, content_type)],
        Body::from_stream(body),
    )
        .into_response()
}

fn part_stream(boundary: &str, part: Part) -> BoxStream<'static, std::io::Result<Bytes>> {
    let mut head = format!("--{boundary}\r\nContent-Type: {}\r\n", part.content_type);
    if let Some(location) = &part.content_location {
        head.push_str(&format!("Content-Location: {location}\r\n"));
    }
    if let PartBody::Bytes(bytes) = &part.body {
        head.push_str(&format!("Content-Length: {}\r\n", bytes.len()));
    }
    head.push_str("\r\n");
    let head = stream::once(async move { Ok(Bytes::from(head)) });
    let tail = stream::once(async { Ok(Bytes::from_static(b"\r\n")) });
    match part.body {
        PartBody::Bytes(bytes) => head
            .chain(stream::once(async move { Ok(bytes) }))
            .chain(tail)
            .boxed(),
        PartBody::File(path) => head.chain(file_stream(path)).chain(tail).boxed(),
        PartBody::Deferred(bytes) => head.chain(stream::once(bytes)).chain(tail).boxed(),
    }
}

/// The bytes of a file in chunks; an error ends the response (the client sees a truncated
/// body), and is logged.
pub(crate) fn file_stream(path: PathBuf) -> BoxStream<'static, std::io::Result<Bytes>> {
    stream::try_unfold(
        (path, None::<tokio::fs::File>),
        |(path, file)| async move {
            let mut file = match file {
                Some(file) => file,
                None => tokio::fs::File::open(&path).await.inspect_err(|e| {
                    tracing::error!(path = %path.display(), error = %e, "cannot open a stored instance")
                })?,
            };
            let mut buffer = vec![0u8; CHUNK];
            let n = file.read(&mut buffer).await.inspect_err(|e| {
                tracing::error!(path = %path.display(), error = %e, "cannot read a stored instance")
            })?;
            if n == 0 {
                return Ok(None);
            }
            buffer.truncate(n);
            Ok(Some((Bytes::from(buffer), (path, Some(file)))))
        },
    )
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn parts_are_delimited_and_closed() {
        let response = response(
            "application/octet-stream",
            vec![
                Part {
                    content_type: "application/octet-stream".into(),
                    content_location: None,
                    body: PartBody::Bytes(Bytes::from_static(b"abc")),
                },
                Part {
                    content_type: "application/octet-stream".into(),
                    content_location: Some("http://x/1".into()),
                    body: PartBody::Bytes(Bytes::from_static(b"\r\n--")),
                },
            ],
        );
        let content_type = response.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_string();
        let boundary = content_type.rsplit("boundary=").next().unwrap().to_string();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let expected = format!(
            "--{boundary}\r\nContent-Type: application/octet-stream\r\nContent-Length: 3\r\n\r\nabc\r\n\
             --{boundary}\r\nContent-Type: application/octet-stream\r\nContent-Location: http://x/1\r\nContent-Length: 4\r\n\r\n\r\n--\r\n\
             --{boundary}--\r\n"
        );
        assert_eq!(String::from_utf8(body.to_vec()).unwrap(), expected);
    }
}
