//! A small static file server for `dist/` (tiny_http, a few worker threads).
//!
//! It sets the headers the app needs for cross-origin isolation
//! (`SharedArrayBuffer`, shared wasm memory) unless started without isolation.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use anyhow::{Result, anyhow};
use tiny_http::{Header, Method, Request, Response, Server};

const WORKERS: usize = 4;

/// A running server: its bound port and worker threads.
pub(crate) struct Running {
    port: u16,
    server: Arc<Server>,
    stopping: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Running {
    /// The TCP port the server is bound to on 127.0.0.1.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// Block until the worker threads end (in practice: forever).
    pub(crate) fn join(self) {
        for thread in self.threads {
            let _ = thread.join();
        }
    }

    /// Stop accepting requests and let the worker threads end.
    pub(crate) fn stop(self) {
        self.stopping.store(true, Ordering::SeqCst);
        for _ in 0..WORKERS {
            self.server.unblock();
        }
        for thread in self.threads {
            let _ = thread.join();
        }
    }
}

/// Start serving `root` on 127.0.0.1:`port` (0 picks a free port) in
/// background threads. `isolation` adds COOP/COEP/CORP headers.
pub(crate) fn start(root: &Path, port: u16, isolation: bool) -> Result<Running> {
    let server = Server::http(("127.0.0.1", port))
        .map_err(|err| anyhow!("cannot listen on 127.0.0.1:{port}: {err}"))?;
    let port = server
        .server_addr()
        .to_ip()
        .map(|addr| addr.port())
        .ok_or_else(|| anyhow!("server is not bound to an IP address"))?;
    let server = Arc::new(server);
    let stopping = Arc::new(AtomicBool::new(false));
    let root = Arc::new(root.to_path_buf());
    let threads = (0..WORKERS)
        .map(|_| {
            let server = Arc::clone(&server);
            let stopping = Arc::clone(&stopping);
            let root = Arc::clone(&root);
            std::thread::spawn(move || {
                loop {
                    match server.recv() {
                        Ok(request) => handle(&root, isolation, request),
                        Err(_) if stopping.load(Ordering::SeqCst) => break,
                        // A failed accept or a stray unblock: keep serving.
                        Err(_) => {}
                    }
                }
            })
        })
        .collect();
    Ok(Running {
        port,
        server,
        stopping,
        threads,
    })
}

fn header(name: &str, value: &str) -> Option<Header> {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).ok()
}

fn handle(root: &Path, isolation: bool, request: Request) {
    let (status, mime, body) = if matches!(request.method(), Method::Get | Method::Head) {
        match resolve(root, request.url()) {
            Some(path) => match fs::read(&path) {
                Ok(bytes) => (200, mime_type(&path), bytes),
                Err(_) => not_found(),
            },
            None => not_found(),
        }
    } else {
        (
            405,
            "text/plain; charset=utf-8",
            b"method not allowed\n".to_vec(),
        )
    };
    // tiny_http sends the headers (Content-Length included) but no body for HEAD.
    let mut response = Response::from_data(body).with_status_code(status);
    let mut headers = vec![
        header("Content-Type", mime),
        header("Cache-Control", "no-cache"),
        header("X-Content-Type-Options", "nosniff"),
    ];
    if isolation {
        headers.push(header("Cross-Origin-Opener-Policy", "same-origin"));
        headers.push(header("Cross-Origin-Embedder-Policy", "require-corp"));
        headers.push(header("Cross-Origin-Resource-Policy", "same-origin"));
    }
    for h in headers.into_iter().flatten() {
        response.add_header(h);
    }
    // A client that hung up is not our problem.
    let _ = request.respond(response);
}

fn not_found() -> (u16, &'static str, Vec<u8>) {
    (
        404,
        "text/plain; charset=utf-8",
        b"404 not found\n".to_vec(),
    )
}

/// Map a request URL to a file under `root`, or `None` (404) when it is
/// missing or tries to escape `root`.
fn resolve(root: &Path, url: &str) -> Option<PathBuf> {
    let path = url.split(['?', '#']).next().unwrap_or("");
    let decoded = percent_decode(path)?;
    let mut file = root.to_path_buf();
    for segment in decoded.split('/') {
        match segment {
            "" | "." => {}
            ".." => return None,
            s if s.contains('\\') || s.contains('\0') || s.contains(':') => return None,
            s => file.push(s),
        }
    }
    if file.is_dir() {
        file.push("index.html");
    }
    file.is_file().then_some(file)
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn mime_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "wasm" => "application/wasm",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "md" => "text/markdown; charset=utf-8",
        "txt" => "text/plain; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "ttf" => "font/ttf",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_traversal() {
        let root = std::env::temp_dir();
        assert!(resolve(&root, "/../etc/passwd").is_none());
        assert!(resolve(&root, "/a/%2e%2e/%2e%2e/etc/passwd").is_none());
        assert!(resolve(&root, "/a\\..\\b").is_none());
    }

    #[test]
    fn mime_types() {
        assert_eq!(mime_type(Path::new("a.wasm")), "application/wasm");
        assert_eq!(
            mime_type(Path::new("a.mjs")),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(mime_type(Path::new("x.md")), "text/markdown; charset=utf-8");
    }
}
