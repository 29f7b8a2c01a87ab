//! A small HTTP/1.1 server on 127.0.0.1 for the download tests: one thread per connection, a
//! handler that answers each request, byte ranges, and the faults a real network has (a
//! connection cut mid-file, a stall, a slow trickle, a flipped byte). Every request is logged so
//! tests can see what the client asked for.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// How the body is sent.
#[derive(Debug, Clone, Copy, Default)]
pub enum Fault {
    #[default]
    None,
    /// Close the connection after this many body bytes.
    CutAfter(usize),
    /// Send this many body bytes, then go silent for the duration.
    StallAfter(usize, Duration),
    /// Send in chunks of this size with a pause between them.
    Trickle(usize, Duration),
    /// Flip the byte at this offset of the body.
    FlipByte(usize),
}

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Arc<Vec<u8>>,
    pub fault: Fault,
}

impl Response {
    pub fn new(status: u16) -> Self {
        Self { status, headers: Vec::new(), body: Arc::new(Vec::new()), fault: Fault::None }
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn body(mut self, body: impl Into<Arc<Vec<u8>>>) -> Self {
        self.body = body.into();
        self
    }

    pub fn fault(mut self, fault: Fault) -> Self {
        self.fault = fault;
        self
    }

    /// A file answered as a file server does: the whole of it, or the range asked for.
    pub fn file(request: &Request, bytes: Arc<Vec<u8>>) -> Self {
        let range = request.header("range").and_then(|r| r.strip_prefix("bytes=")).and_then(|r| r.split_once('-'));
        let total = bytes.len();
        match range.and_then(|(start, _)| start.parse::<usize>().ok()) {
            Some(start) if start >= total => Response::new(416).header("Content-Range", format!("bytes */{total}")),
            Some(start) => Response::new(206)
                .header("Content-Range", format!("bytes {start}-{}/{total}", total - 1))
                .header("Content-Type", "application/octet-stream")
                .body(bytes[start..].to_vec()),
            None => Response::new(200).header("Content-Type", "application/octet-stream").body(bytes),
        }
    }
}

type Handler = dyn Fn(&Request, &str) -> Response + Send + Sync;

/// Stops listening when dropped.
pub struct TestServer {
    base: String,
    log: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl TestServer {
    /// `handler(request, base_url)` answers every request.
    pub fn start(handler: impl Fn(&Request, &str) -> Response + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        let acceptor = {
            let (log, stop, base) = (log.clone(), stop.clone(), base.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let (log, handler, base) = (log.clone(), handler.clone(), base.clone());
                    std::thread::spawn(move || serve(stream, &log, handler.as_ref(), &base));
                }
            })
        };
        Self { base, log, stop, acceptor: Some(acceptor) }
    }

    pub fn url(&self) -> &str {
        &self.base
    }

    pub fn requests(&self) -> Vec<Request> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.base.trim_start_matches("http://"));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

fn serve(stream: TcpStream, log: &Mutex<Vec<Request>>, handler: &Handler, base: &str) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(stream.try_clone().expect("clone the stream"));
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("").to_string());
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.push((name.trim().to_string(), value.trim().to_string()));
        }
    }
    let request = Request { method, path, headers };
    log.lock().unwrap().push(request.clone());
    let response = handler(&request, base);
    let _ = write_response(stream, &request, &response);
}

fn write_response(mut stream: TcpStream, request: &Request, response: &Response) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {} {}\r\n", response.status, reason(response.status));
    let mut has_length = false;
    for (name, value) in &response.headers {
        has_length |= name.eq_ignore_ascii_case("content-length");
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !has_length {
        head.push_str(&format!("Content-Length: {}\r\n", response.body.len()));
    }
    head.push_str("Connection: close\r\n\r\n");
    stream.write_all(head.as_bytes())?;
    if request.method == "HEAD" {
        return Ok(());
    }
    let body = response.body.as_slice();
    match response.fault {
        Fault::None => stream.write_all(body)?,
        Fault::CutAfter(n) => {
            stream.write_all(&body[..n.min(body.len())])?;
            stream.flush()?;
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
        Fault::StallAfter(n, pause) => {
            stream.write_all(&body[..n.min(body.len())])?;
            stream.flush()?;
            std::thread::sleep(pause);
        }
        Fault::Trickle(chunk, pause) => {
            for piece in body.chunks(chunk) {
                stream.write_all(piece)?;
                stream.flush()?;
                std::thread::sleep(pause);
            }
        }
        Fault::FlipByte(at) => {
            let mut copy = body.to_vec();
            if let Some(byte) = copy.get_mut(at) {
                *byte ^= 0xff;
            }
            stream.write_all(&copy)?;
        }
    }
    stream.flush()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        206 => "Partial Content",
        302 => "Found",
        307 => "Temporary Redirect",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        416 => "Range Not Satisfiable",
        429 => "Too Many Requests",
        _ => "Status",
    }
}
