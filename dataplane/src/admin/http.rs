//! A small HTTP/1.1 server for the admin listener, on `std` only.
//!
//! What: serves `/metrics`, `/status`, `POST /-/reload` and friends to
//! operators and Prometheus. It must survive anything a client sends
//! (garbage, huge heads, slowloris, pipelining) and must never slow a worker.
//!
//! How:
//! - One *accept thread* blocks in `accept` for at most [`ACCEPT_POLL`]
//!   at a time (Linux applies `SO_RCVTIMEO` to `accept(2)`, see
//!   [`listener_with_accept_timeout`]), so new connections are taken at once
//!   and [`HttpServer::shutdown`] is prompt without any wake-up trick. Where
//!   that option cannot be set, it polls a non-blocking listener at the same
//!   period instead. Each admitted connection gets its own thread; at most
//!   [`Limits::max_connections`] exist at once. A connection beyond that gets
//!   `503` written from the accept thread, then lingers (non-blocking drain,
//!   bounded in number and time) so the client reads the answer instead of a
//!   reset.
//! - A connection thread reads into one buffer and parses heads
//!   incrementally; leftover bytes are the next pipelined request. The whole
//!   head must arrive within [`Limits::head_timeout`] (one deadline, not per
//!   byte, so a one-byte-per-second client gets `408`), the body within
//!   [`Limits::body_timeout`], and each response is written within
//!   [`Limits::write_timeout`] (total, not per `write` call).
//! - Bodies are framed by `Content-Length` only: `Transfer-Encoding: chunked`
//!   gets `411`, any other transfer coding `501`. After every error response
//!   the connection is closed with a short lingering drain.
//! - The handler runs under `catch_unwind`: a panic becomes `500` and closes
//!   that connection only. (With `panic = "abort"` in a profile there is
//!   nothing to catch: the process aborts.)
//!
//! Threads: the accept thread and the connection threads are the only ones
//! that touch sockets. The connection table (a `Mutex`) is locked only when a
//! connection starts or ends and at shutdown, never per request. Nothing here
//! is shared with data-path workers; the handler decides what it reads.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long the accept thread waits in `accept` before it looks for a stop.
pub const ACCEPT_POLL: Duration = Duration::from_millis(50);

/// At most this many over-capacity connections linger after their `503`.
const MAX_LINGERING_REJECTS: usize = 64;
/// How long an over-capacity connection lingers after its `503`.
const REJECT_LINGER: Duration = Duration::from_millis(500);
/// After an error response, discard at most this much unread input before
/// closing, so the client sees the response rather than a reset.
const LINGER_DRAIN_BYTES: usize = 1 << 20;
/// Longest time [`HttpServer::shutdown`] waits for running handlers.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// The handler type: called on a connection thread for every request.
pub type Handler = Arc<dyn Fn(&Request) -> Response + Send + Sync>;

/// Bounds on what one client may cost. [`Limits::default`] suits the admin
/// listener; tests shorten the timeouts.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Connections served at once; one more gets `503` and is closed.
    pub max_connections: usize,
    /// Request line plus headers, in bytes (`431`, or `414` when the request
    /// line alone is longer).
    pub max_head_bytes: usize,
    /// Header fields per request (`431`).
    pub max_headers: usize,
    /// `Content-Length` above this gets `413` before any body is read.
    pub max_body_bytes: usize,
    /// Whole head must arrive within this, counted from the connection's
    /// accept for its first request, else from the request's first byte.
    pub head_timeout: Duration,
    /// Whole body must arrive within this after the head (`408`).
    pub body_timeout: Duration,
    /// A kept-alive connection with no new request for this long is closed.
    pub idle_timeout: Duration,
    /// Each response must be written within this, in total.
    pub write_timeout: Duration,
    /// Requests served on one connection before it is closed.
    pub max_requests_per_connection: usize,
    /// How long to drain unread input after an error response.
    pub linger_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 32,
            max_head_bytes: 16 * 1024,
            max_headers: 100,
            max_body_bytes: 1024 * 1024,
            head_timeout: Duration::from_secs(5),
            body_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
            max_requests_per_connection: 1000,
            linger_timeout: Duration::from_secs(1),
        }
    }
}

/// HTTP version of a request. Only 1.0 and 1.1 are spoken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
}

/// One parsed request. Plain data: handlers and tests may build their own
/// with [`Request::new`].
#[derive(Clone, Debug)]
pub struct Request {
    /// Method token as sent (case-sensitive, e.g. `GET`).
    pub method: String,
    /// The request target exactly as sent.
    pub target: String,
    /// Path part of the target, not percent-decoded (`*` for `OPTIONS *`).
    pub path: String,
    /// Query part after `?`, not decoded.
    pub query: Option<String>,
    pub version: Version,
    /// Header fields in arrival order, names as sent; look up with
    /// [`Request::header`] (case-insensitive).
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The client's address, when the request came from a socket.
    pub peer: Option<SocketAddr>,
}

impl Request {
    /// A request without headers or body, e.g. for testing handlers.
    pub fn new(method: &str, target: &str) -> Self {
        let (path, query) = split_target(target);
        Self {
            method: method.to_string(),
            target: target.to_string(),
            path: path.to_string(),
            query: query.map(str::to_string),
            version: Version::Http11,
            headers: Vec::new(),
            body: Vec::new(),
            peer: None,
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// First header field named `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// All header fields named `name` (ASCII case-insensitive), in order.
    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The first query parameter `key`, percent-decoded (`+` is a space).
    /// `None` when absent or not valid UTF-8 after decoding.
    pub fn query_param(&self, key: &str) -> Option<String> {
        let query = self.query.as_deref()?;
        query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            if percent_decode(k)? == key {
                percent_decode(v)
            } else {
                None
            }
        })
    }
}

/// A response from a handler. The server adds `Content-Length`, `Date` and
/// `Connection`; those set by the handler (and `Transfer-Encoding`) are
/// ignored, except that a handler's `Connection: close` closes the connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn new(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A `text/plain; charset=utf-8` response.
    pub fn text(status: u16, body: impl Into<String>) -> Self {
        Self::new(status).with_body("text/plain; charset=utf-8", body.into())
    }

    /// Sets the body and its `Content-Type`.
    pub fn with_body(mut self, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        self.headers
            .retain(|(n, _)| !n.eq_ignore_ascii_case("content-type"));
        self.headers
            .push(("Content-Type".to_string(), content_type.to_string()));
        self.body = body.into();
        self
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// First header field named `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The standard reason phrase of `status` (empty when unknown).
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        417 => "Expectation Failed",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

type RouteFn = dyn Fn(&Request) -> Response + Send + Sync;

/// A route table: exact `(method, path)` → handler.
///
/// `HEAD` is served by the `GET` route (the server drops the body),
/// `OPTIONS` on a known path answers `204` with `Allow`, a known path with
/// another method gets `405` with `Allow`, and an unknown path `404`.
#[derive(Default)]
pub struct Router {
    routes: Vec<(String, String, Box<RouteFn>)>,
}

impl Router {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a route; a later route for the same method and path is ignored.
    pub fn route<F>(mut self, method: &str, path: &str, handler: F) -> Self
    where
        F: Fn(&Request) -> Response + Send + Sync + 'static,
    {
        self.routes
            .push((method.to_string(), path.to_string(), Box::new(handler)));
        self
    }

    pub fn get<F>(self, path: &str, handler: F) -> Self
    where
        F: Fn(&Request) -> Response + Send + Sync + 'static,
    {
        self.route("GET", path, handler)
    }

    pub fn post<F>(self, path: &str, handler: F) -> Self
    where
        F: Fn(&Request) -> Response + Send + Sync + 'static,
    {
        self.route("POST", path, handler)
    }

    /// Methods served on `path`, as listed in `Allow`.
    pub fn allowed_methods(&self, path: &str) -> Vec<&str> {
        let mut methods: Vec<&str> = Vec::new();
        for (m, p, _) in &self.routes {
            if p == path && !methods.contains(&m.as_str()) {
                methods.push(m);
            }
        }
        if methods.is_empty() {
            return methods;
        }
        if methods.contains(&"GET") && !methods.contains(&"HEAD") {
            methods.push("HEAD");
        }
        if !methods.contains(&"OPTIONS") {
            methods.push("OPTIONS");
        }
        methods
    }

    pub fn handle(&self, req: &Request) -> Response {
        let find = |method: &str| {
            self.routes
                .iter()
                .find(|(m, p, _)| m == method && *p == req.path)
                .map(|(_, _, h)| h)
        };
        if let Some(h) = find(&req.method) {
            return h(req);
        }
        if req.method == "HEAD" {
            if let Some(h) = find("GET") {
                return h(req);
            }
        }
        let allowed = self.allowed_methods(&req.path);
        if allowed.is_empty() {
            return Response::text(404, "not found\n");
        }
        let allow = allowed.join(", ");
        if req.method == "OPTIONS" {
            return Response::new(204).with_header("Allow", &allow);
        }
        Response::text(405, format!("method {} not allowed\n", req.method))
            .with_header("Allow", &allow)
    }

    pub fn into_handler(self) -> Handler {
        Arc::new(move |req: &Request| self.handle(req))
    }
}

/// A running server; stops on [`HttpServer::shutdown`] or drop.
pub struct HttpServer {
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    accept_thread: Option<JoinHandle<()>>,
}

/// State shared by the accept thread, connection threads and the owner.
struct Shared {
    handler: Handler,
    limits: Limits,
    stop: AtomicBool,
    conns: Mutex<ConnTable>,
    conn_ended: Condvar,
}

/// Live connections, each as a clone of its socket so that shutdown can
/// wake a thread blocked in `read` or `write`.
#[derive(Default)]
struct ConnTable {
    next_id: u64,
    streams: HashMap<u64, TcpStream>,
}

impl Shared {
    fn table(&self) -> MutexGuard<'_, ConnTable> {
        // A poisoned lock only means a thread panicked while holding it; the
        // table itself is still consistent (inserts and removes are atomic).
        self.conns.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Removes its connection from the table when the connection thread ends
/// (normally, by panic, or because it could not be spawned).
struct ConnGuard {
    shared: Arc<Shared>,
    id: u64,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.shared.table().streams.remove(&self.id);
        self.shared.conn_ended.notify_all();
    }
}

impl HttpServer {
    /// Binds `addr` (port 0 picks a free port) with [`Limits::default`] and
    /// starts the accept thread.
    pub fn bind(addr: SocketAddr, handler: Handler) -> io::Result<HttpServer> {
        Self::bind_with(addr, handler, Limits::default())
    }

    pub fn bind_with(addr: SocketAddr, handler: Handler, limits: Limits) -> io::Result<HttpServer> {
        let (listener, polling) =
            listener_with_accept_timeout(TcpListener::bind(addr)?, ACCEPT_POLL);
        if polling {
            listener.set_nonblocking(true)?;
        }
        let local_addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            handler,
            limits,
            stop: AtomicBool::new(false),
            conns: Mutex::new(ConnTable::default()),
            conn_ended: Condvar::new(),
        });
        let accept_shared = Arc::clone(&shared);
        let accept_thread = thread::Builder::new()
            .name("admin-http".to_string())
            .spawn(move || accept_loop(listener, polling, accept_shared))?;
        Ok(HttpServer {
            local_addr,
            shared,
            accept_thread: Some(accept_thread),
        })
    }

    /// The bound address (with the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Connections being served now.
    pub fn active_connections(&self) -> usize {
        self.shared.table().streams.len()
    }

    /// Stops accepting, closes every connection's socket (waking blocked
    /// reads and writes), and waits up to a short grace period for running
    /// handlers. Idempotent.
    pub fn shutdown(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.accept_thread.take() {
            let _ = t.join();
        }
        let deadline = Instant::now() + SHUTDOWN_GRACE;
        let mut table = self.shared.table();
        for s in table.streams.values() {
            let _ = s.shutdown(Shutdown::Both);
        }
        while !table.streams.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            table = match self.shared.conn_ended.wait_timeout(table, left) {
                Ok((t, _)) => t,
                Err(e) => e.into_inner().0,
            };
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// An over-capacity connection that got its `503` and is being drained.
struct Rejected {
    stream: TcpStream,
    until: Instant,
}

/// Makes a blocking `accept` on `listener` return after `timeout`.
///
/// std has no accept timeout, but Linux applies `SO_RCVTIMEO` to `accept(2)`
/// (socket(7)) and std sets that option only on a `TcpStream`, so the
/// socket passes through one (as an `OwnedFd`, no `unsafe`). Returns the
/// listener and `true` when the option could not be set and the caller must
/// poll instead. Accepted sockets inherit the option; connection threads
/// set their own timeouts before every read anyway.
fn listener_with_accept_timeout(listener: TcpListener, timeout: Duration) -> (TcpListener, bool) {
    let stream = TcpStream::from(OwnedFd::from(listener));
    let failed = stream.set_read_timeout(Some(timeout)).is_err();
    (TcpListener::from(OwnedFd::from(stream)), failed)
}

fn accept_loop(listener: TcpListener, polling: bool, shared: Arc<Shared>) {
    let mut rejected: VecDeque<Rejected> = VecDeque::new();
    while !shared.stop.load(Ordering::SeqCst) {
        drain_rejected(&mut rejected);
        match listener.accept() {
            Ok((stream, peer)) => admit(&shared, stream, peer, &mut rejected),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if polling {
                    thread::sleep(ACCEPT_POLL);
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::Interrupted | ErrorKind::ConnectionAborted
                ) => {}
            // E.g. out of file descriptors: back off instead of spinning.
            Err(_) => thread::sleep(ACCEPT_POLL),
        }
    }
}

fn admit(
    shared: &Arc<Shared>,
    stream: TcpStream,
    peer: SocketAddr,
    rejected: &mut VecDeque<Rejected>,
) {
    let id = {
        let mut table = shared.table();
        if table.streams.len() >= shared.limits.max_connections {
            drop(table);
            reject(stream, rejected);
            return;
        }
        let Ok(clone) = stream.try_clone() else {
            return;
        };
        let id = table.next_id;
        table.next_id = table.next_id.wrapping_add(1);
        table.streams.insert(id, clone);
        id
    };
    let guard = ConnGuard {
        shared: Arc::clone(shared),
        id,
    };
    // If the spawn fails, the closure (and the guard in it) is dropped,
    // which unregisters the connection and closes the socket.
    let _ = thread::Builder::new()
        .name("admin-http-conn".to_string())
        .spawn(move || {
            let guard = guard;
            serve_connection(&guard.shared, stream, peer);
        });
}

/// Answers `503` from the accept thread without ever blocking it.
fn reject(stream: TcpStream, rejected: &mut VecDeque<Rejected>) {
    if stream.set_nonblocking(true).is_err() {
        return;
    }
    let body = b"too many connections\n";
    let mut resp = Vec::with_capacity(256);
    let content_type = [(
        "Content-Type".to_string(),
        "text/plain; charset=utf-8".to_string(),
    )];
    encode_head(&mut resp, 503, &content_type, Some(body.len()), true, false);
    resp.extend_from_slice(body);
    let mut s = &stream;
    // A fresh socket's send buffer takes this small write whole.
    if s.write_all(&resp).is_err() {
        return;
    }
    let _ = stream.shutdown(Shutdown::Write);
    if rejected.len() >= MAX_LINGERING_REJECTS {
        rejected.pop_front();
    }
    rejected.push_back(Rejected {
        stream,
        until: Instant::now() + REJECT_LINGER,
    });
}

fn drain_rejected(rejected: &mut VecDeque<Rejected>) {
    let now = Instant::now();
    let mut scratch = [0u8; 4096];
    rejected.retain_mut(|r| {
        if now >= r.until {
            return false;
        }
        loop {
            match r.stream.read(&mut scratch) {
                Ok(0) => return false,
                Ok(_) => continue,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => return false,
            }
        }
    });
}

/// Why a request could not be served; each maps to a status code.
#[derive(Debug, Clone, PartialEq, Eq)]
enum HttpError {
    BadRequest(&'static str),
    Timeout,
    LengthRequired,
    PayloadTooLarge,
    UriTooLong,
    HeadersTooLarge,
    ExpectationFailed,
    NotImplemented,
    VersionNotSupported,
}

impl HttpError {
    fn status(&self) -> u16 {
        match self {
            HttpError::BadRequest(_) => 400,
            HttpError::Timeout => 408,
            HttpError::LengthRequired => 411,
            HttpError::PayloadTooLarge => 413,
            HttpError::UriTooLong => 414,
            HttpError::HeadersTooLarge => 431,
            HttpError::ExpectationFailed => 417,
            HttpError::NotImplemented => 501,
            HttpError::VersionNotSupported => 505,
        }
    }

    fn message(&self) -> &'static str {
        match self {
            HttpError::BadRequest(why) => why,
            HttpError::Timeout => "request not received in time",
            HttpError::LengthRequired => {
                "chunked request bodies are not accepted; send Content-Length"
            }
            HttpError::PayloadTooLarge => "request body too large",
            HttpError::UriTooLong => "request line too long",
            HttpError::HeadersTooLarge => "request header fields too large",
            HttpError::ExpectationFailed => "only Expect: 100-continue is supported",
            HttpError::NotImplemented => "transfer coding not implemented",
            HttpError::VersionNotSupported => "only HTTP/1.0 and HTTP/1.1 are supported",
        }
    }
}

/// What reading the next request produced.
enum Next {
    Request(Box<Request>),
    /// The client closed or went idle between requests: close quietly.
    Closed,
    /// Answer with this error, then close.
    Error(HttpError),
}

/// One connection's socket and unconsumed input.
struct Conn<'a> {
    stream: TcpStream,
    buf: Vec<u8>,
    peer: SocketAddr,
    shared: &'a Shared,
}

fn serve_connection(shared: &Shared, stream: TcpStream, peer: SocketAddr) {
    if stream.set_nonblocking(false).is_err() {
        return;
    }
    let _ = stream.set_nodelay(true);
    let mut conn = Conn {
        stream,
        buf: Vec::with_capacity(4096),
        peer,
        shared,
    };
    let limits = &shared.limits;
    let mut served = 0usize;
    let mut first_deadline = Some(Instant::now() + limits.head_timeout);
    while !shared.stop.load(Ordering::SeqCst) {
        let next = conn.read_request(first_deadline.take());
        let req = match next {
            Next::Request(req) => req,
            Next::Closed => return,
            Next::Error(e) => {
                let resp = Response::text(e.status(), format!("{}\n", e.message()));
                let _ = conn.write_response(&resp, false, true);
                conn.linger_close();
                return;
            }
        };
        served += 1;
        let handler = &shared.handler;
        let resp = match catch_unwind(AssertUnwindSafe(|| handler(&req))) {
            Ok(resp) => resp,
            Err(_) => {
                let resp = Response::text(500, "internal error\n");
                let _ = conn.write_response(&resp, req.method == "HEAD", true);
                conn.linger_close();
                return;
            }
        };
        let close = !wants_keep_alive(&req)
            || served >= limits.max_requests_per_connection
            || shared.stop.load(Ordering::SeqCst)
            || resp
                .headers
                .iter()
                .any(|(n, v)| n.eq_ignore_ascii_case("connection") && has_token(v, "close"));
        let keep_alive_header = !close && req.version == Version::Http10;
        if conn
            .write_response_ext(&resp, req.method == "HEAD", close, keep_alive_header)
            .is_err()
        {
            return;
        }
        if close {
            conn.linger_close();
            return;
        }
    }
}

impl Conn<'_> {
    /// Reads more input into `buf` before `deadline`. `Ok(false)` on EOF,
    /// `Err(Timeout)` when the deadline passes.
    fn fill(&mut self, deadline: Instant) -> Result<bool, HttpError> {
        let mut chunk = [0u8; 8192];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(HttpError::Timeout);
            }
            if self
                .stream
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .is_err()
            {
                return Ok(false);
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(true);
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                    ) => {}
                Err(_) => return Ok(false),
            }
        }
    }

    /// Reads and parses one request. `first_deadline` is set for the first
    /// request of a connection; later ones wait `idle_timeout` for a first
    /// byte, then allow `head_timeout` for the rest of the head.
    fn read_request(&mut self, first_deadline: Option<Instant>) -> Next {
        let limits = &self.shared.limits;
        let first = first_deadline.is_some();
        // Any byte, even a blank line that is skipped, starts the head
        // deadline: trickling blank lines cannot hold a connection open.
        let mut deadline = match first_deadline {
            None if !self.buf.is_empty() => Some(Instant::now() + limits.head_timeout),
            d => d,
        };
        let mut scanned = 0usize;
        let head_end = loop {
            // Empty lines before a request line are ignored (RFC 9112 2.2).
            let skip = self
                .buf
                .iter()
                .take_while(|&&b| b == b'\r' || b == b'\n')
                .count();
            if skip > 0 {
                self.buf.drain(..skip);
                scanned = 0;
            }
            if let Some(end) = find_head_end(&self.buf, scanned) {
                if end > limits.max_head_bytes {
                    return Next::Error(oversized_head(&self.buf, limits.max_head_bytes));
                }
                break end;
            }
            if self.buf.len() >= limits.max_head_bytes {
                return Next::Error(oversized_head(&self.buf, limits.max_head_bytes));
            }
            scanned = self.buf.len();
            let wait_until = match deadline {
                Some(d) => d,
                None => Instant::now() + limits.idle_timeout,
            };
            match self.fill(wait_until) {
                Ok(true) => {
                    deadline.get_or_insert_with(|| Instant::now() + limits.head_timeout);
                }
                Ok(false) => return Next::Closed,
                Err(e) => {
                    // Idle keep-alive connection: close without a word.
                    if self.buf.is_empty() && !first {
                        return Next::Closed;
                    }
                    return Next::Error(e);
                }
            }
        };
        let head = match parse_head(&self.buf[..head_end], limits.max_headers) {
            Ok(head) => head,
            Err(e) => return Next::Error(e),
        };
        let body_len = match body_length(&head) {
            Ok(n) => n,
            Err(e) => return Next::Error(e),
        };
        if body_len > limits.max_body_bytes {
            return Next::Error(HttpError::PayloadTooLarge);
        }
        let total = head_end + body_len;
        if self.buf.len() < total {
            if head.expect_continue {
                let _ = write_all_deadline(
                    &self.stream,
                    b"HTTP/1.1 100 Continue\r\n\r\n",
                    Instant::now() + limits.write_timeout,
                );
            }
            let body_deadline = Instant::now() + limits.body_timeout;
            while self.buf.len() < total {
                match self.fill(body_deadline) {
                    Ok(true) => {}
                    Ok(false) => return Next::Closed,
                    Err(e) => return Next::Error(e),
                }
            }
        }
        let body = self.buf[head_end..total].to_vec();
        self.buf.drain(..total);
        let (path, query) = match target_path(&head.target) {
            Some(pq) => pq,
            None => return Next::Error(HttpError::BadRequest("unsupported request target")),
        };
        Next::Request(Box::new(Request {
            method: head.method,
            path,
            query,
            target: head.target,
            version: head.version,
            headers: head.headers,
            body,
            peer: Some(self.peer),
        }))
    }

    fn write_response(&mut self, resp: &Response, head_only: bool, close: bool) -> io::Result<()> {
        self.write_response_ext(resp, head_only, close, false)
    }

    fn write_response_ext(
        &mut self,
        resp: &Response,
        head_only: bool,
        close: bool,
        keep_alive_header: bool,
    ) -> io::Result<()> {
        let deadline = Instant::now() + self.shared.limits.write_timeout;
        let invalid = !(200..=999).contains(&resp.status)
            || resp
                .headers
                .iter()
                .any(|(n, v)| !is_token(n.as_bytes()) || !is_field_value(v.as_bytes()));
        let fallback;
        let resp = if invalid {
            fallback = Response::text(500, "handler produced an invalid response\n");
            &fallback
        } else {
            resp
        };
        let bodiless = matches!(resp.status, 204 | 304);
        let mut out = Vec::with_capacity(256);
        encode_head(
            &mut out,
            resp.status,
            &resp.headers,
            if bodiless {
                None
            } else {
                Some(resp.body.len())
            },
            close,
            keep_alive_header,
        );
        let with_body = !head_only && !bodiless && !resp.body.is_empty();
        if with_body && resp.body.len() <= 64 * 1024 {
            out.extend_from_slice(&resp.body);
            write_all_deadline(&self.stream, &out, deadline)
        } else {
            write_all_deadline(&self.stream, &out, deadline)?;
            if with_body {
                write_all_deadline(&self.stream, &resp.body, deadline)?;
            }
            Ok(())
        }
    }

    /// Half-closes and discards input for a moment, so that the client reads
    /// our last response instead of a reset caused by its unread bytes.
    fn linger_close(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Write);
        let deadline = Instant::now() + self.shared.limits.linger_timeout;
        let mut drained = 0usize;
        while drained < LINGER_DRAIN_BYTES {
            self.buf.clear();
            match self.fill(deadline) {
                Ok(true) => drained += self.buf.len(),
                _ => break,
            }
        }
    }
}

fn oversized_head(buf: &[u8], max: usize) -> HttpError {
    let window = &buf[..buf.len().min(max)];
    if window.contains(&b'\n') {
        HttpError::HeadersTooLarge
    } else {
        HttpError::UriTooLong
    }
}

/// Writes the status line and headers. `body_len` `None` omits
/// `Content-Length` (204/304).
fn encode_head(
    out: &mut Vec<u8>,
    status: u16,
    headers: &[(String, String)],
    body_len: Option<usize>,
    close: bool,
    keep_alive: bool,
) {
    let mut head = String::with_capacity(256);
    let _ = write!(head, "HTTP/1.1 {} {}\r\n", status, reason_phrase(status));
    let _ = write!(head, "Date: {}\r\n", http_date(SystemTime::now()));
    for (n, v) in headers {
        let managed = ["content-length", "transfer-encoding", "connection", "date"];
        if managed.iter().any(|m| n.eq_ignore_ascii_case(m)) {
            continue;
        }
        let _ = write!(head, "{}: {}\r\n", n, v);
    }
    if let Some(len) = body_len {
        let _ = write!(head, "Content-Length: {}\r\n", len);
    }
    if close {
        head.push_str("Connection: close\r\n");
    } else if keep_alive {
        head.push_str("Connection: keep-alive\r\n");
    }
    head.push_str("\r\n");
    out.extend_from_slice(head.as_bytes());
}

/// Writes all of `data` before `deadline` (one deadline for the whole
/// write, so a slow reader cannot stretch it).
fn write_all_deadline(
    mut stream: &TcpStream,
    mut data: &[u8],
    deadline: Instant,
) -> io::Result<()> {
    while !data.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ErrorKind::TimedOut.into());
        }
        stream.set_write_timeout(Some(left.max(Duration::from_millis(1))))?;
        match stream.write(data) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => data = data.get(n..).unwrap_or_default(),
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Index just past the blank line ending the head, searching from `from`
/// (bytes before `from` were searched already). Accepts CRLF and bare LF.
fn find_head_end(buf: &[u8], from: usize) -> Option<usize> {
    let start = from.saturating_sub(3);
    let mut i = start;
    while i < buf.len() {
        if buf[i] == b'\n' {
            match buf.get(i + 1) {
                Some(b'\n') => return Some(i + 2),
                Some(b'\r') if buf.get(i + 2) == Some(&b'\n') => return Some(i + 3),
                _ => {}
            }
        }
        i += 1;
    }
    None
}

/// A parsed request head (request line and header fields).
#[derive(Debug)]
struct Head {
    method: String,
    target: String,
    version: Version,
    headers: Vec<(String, String)>,
    expect_continue: bool,
}

/// Splits the head into lines at LF, dropping one CR before each LF. A CR
/// anywhere else is an error.
fn head_lines(head: &[u8]) -> Result<Vec<&[u8]>, HttpError> {
    let mut lines = Vec::new();
    for raw in head.split(|&b| b == b'\n') {
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        if line.contains(&b'\r') {
            return Err(HttpError::BadRequest("stray CR in request head"));
        }
        lines.push(line);
    }
    // The head ends with a blank line (and the split leaves an empty tail).
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    Ok(lines)
}

fn parse_head(head: &[u8], max_headers: usize) -> Result<Head, HttpError> {
    let lines = head_lines(head)?;
    let (request_line, fields) = lines
        .split_first()
        .ok_or(HttpError::BadRequest("empty request"))?;
    let mut parts = request_line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HttpError::BadRequest("malformed request line"));
    };
    if !is_token(method) {
        return Err(HttpError::BadRequest("malformed method"));
    }
    if target.is_empty()
        || !target
            .iter()
            .all(|&b| (0x21..=0x7e).contains(&b) && b != b'#')
    {
        return Err(HttpError::BadRequest("malformed request target"));
    }
    let version = match version {
        b"HTTP/1.1" => Version::Http11,
        b"HTTP/1.0" => Version::Http10,
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            return Err(HttpError::VersionNotSupported)
        }
        _ => return Err(HttpError::BadRequest("malformed HTTP version")),
    };
    if fields.len() > max_headers {
        return Err(HttpError::HeadersTooLarge);
    }
    let mut headers = Vec::with_capacity(fields.len());
    for line in fields {
        if line.first().is_some_and(|&b| b == b' ' || b == b'\t') {
            return Err(HttpError::BadRequest("obsolete header line folding"));
        }
        let colon = line
            .iter()
            .position(|&b| b == b':')
            .ok_or(HttpError::BadRequest("header line without colon"))?;
        let (name, rest) = line.split_at(colon);
        if !is_token(name) {
            return Err(HttpError::BadRequest("malformed header name"));
        }
        let value = trim_ows(rest.get(1..).unwrap_or_default());
        if !is_field_value(value) {
            return Err(HttpError::BadRequest("malformed header value"));
        }
        let value = std::str::from_utf8(value)
            .map_err(|_| HttpError::BadRequest("header value is not UTF-8"))?;
        // `is_token` admits only ASCII, so this cannot fail.
        let name = String::from_utf8_lossy(name).into_owned();
        headers.push((name, value.to_string()));
    }
    let method = String::from_utf8_lossy(method).into_owned();
    let target = String::from_utf8_lossy(target).into_owned();
    let mut head = Head {
        method,
        target,
        version,
        headers,
        expect_continue: false,
    };
    let hosts = head
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("host"))
        .count();
    if hosts > 1 || (hosts == 0 && version == Version::Http11) {
        return Err(HttpError::BadRequest(
            "HTTP/1.1 needs exactly one Host header",
        ));
    }
    if version == Version::Http11 {
        for (n, v) in &head.headers {
            if n.eq_ignore_ascii_case("expect") {
                if v.eq_ignore_ascii_case("100-continue") {
                    head.expect_continue = true;
                } else {
                    return Err(HttpError::ExpectationFailed);
                }
            }
        }
    }
    Ok(head)
}

/// The body length from `Content-Length` (0 when absent), rejecting
/// transfer codings and conflicting lengths.
fn body_length(head: &Head) -> Result<usize, HttpError> {
    let field = |name: &'static str| {
        head.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let mut codings = field("transfer-encoding")
        .flat_map(|v| v.split(','))
        .map(|c| c.trim_matches([' ', '\t']))
        .peekable();
    if codings.peek().is_some() {
        if head.version == Version::Http10 || field("content-length").next().is_some() {
            return Err(HttpError::BadRequest(
                "Transfer-Encoding with HTTP/1.0 or Content-Length",
            ));
        }
        if codings
            .last()
            .is_some_and(|c| c.eq_ignore_ascii_case("chunked"))
        {
            return Err(HttpError::LengthRequired);
        }
        return Err(HttpError::NotImplemented);
    }
    let mut length: Option<u64> = None;
    for item in field("content-length").flat_map(|v| v.split(',')) {
        let item = item.trim_matches([' ', '\t']);
        if item.is_empty() || item.len() > 19 || !item.bytes().all(|b| b.is_ascii_digit()) {
            return Err(HttpError::BadRequest("malformed Content-Length"));
        }
        let n: u64 = item
            .parse()
            .map_err(|_| HttpError::BadRequest("malformed Content-Length"))?;
        match length {
            Some(prev) if prev != n => {
                return Err(HttpError::BadRequest("conflicting Content-Length"))
            }
            _ => length = Some(n),
        }
    }
    // A length that does not fit usize is certainly too large.
    usize::try_from(length.unwrap_or(0)).map_err(|_| HttpError::PayloadTooLarge)
}

/// `(path, query)` of a request target in origin form (`/p?q`), asterisk
/// form (`*`) or absolute form (`http://host/p?q`). `None` otherwise.
fn target_path(target: &str) -> Option<(String, Option<String>)> {
    if target == "*" || target.starts_with('/') {
        let (p, q) = split_target(target);
        return Some((p.to_string(), q.map(str::to_string)));
    }
    let lower = target.get(..8).unwrap_or(target).to_ascii_lowercase();
    let rest = if lower.starts_with("http://") {
        target.get(7..)?
    } else if lower.starts_with("https://") {
        target.get(8..)?
    } else {
        return None;
    };
    let after_authority = rest.find(['/', '?']).map_or("", |i| &rest[i..]);
    if rest.len() == after_authority.len() {
        return None; // empty authority
    }
    let (p, q) = split_target(after_authority);
    let p = if p.is_empty() { "/" } else { p };
    Some((p.to_string(), q.map(str::to_string)))
}

fn split_target(target: &str) -> (&str, Option<&str>) {
    match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    }
}

/// Decodes `%XX` escapes and `+`; `None` on a bad escape or non-UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                let hi = (*bytes.get(i + 1)? as char).to_digit(16)?;
                let lo = (*bytes.get(i + 2)? as char).to_digit(16)?;
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// Field value bytes: visible ASCII, SP, HTAB and obs-text; no CR/LF/NUL.
fn is_field_value(v: &[u8]) -> bool {
    v.iter().all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

fn trim_ows(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

/// Whether a comma-separated header value holds `token` (case-insensitive).
fn has_token(value: &str, token: &str) -> bool {
    value
        .split(',')
        .any(|t| t.trim_matches([' ', '\t']).eq_ignore_ascii_case(token))
}

fn wants_keep_alive(req: &Request) -> bool {
    let conn = |tok| req.headers_named("connection").any(|v| has_token(v, tok));
    match req.version {
        Version::Http11 => !conn("close"),
        Version::Http10 => conn("keep-alive") && !conn("close"),
    }
}

/// IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
fn http_date(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        WEEKDAYS[(days % 7) as usize],
        d,
        MONTHS[(m as usize).saturating_sub(1).min(11)],
        y,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Proleptic Gregorian (year, month 1-12, day 1-31) of days since
/// 1970-01-01 (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
#[path = "tests/http.rs"]
mod tests;
