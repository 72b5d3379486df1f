//! Tests of the admin HTTP server over real sockets on 127.0.0.1.

use super::*;
use crate::rng::XorShift64;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;

fn quick_limits() -> Limits {
    Limits {
        head_timeout: Duration::from_secs(2),
        body_timeout: Duration::from_secs(2),
        idle_timeout: Duration::from_secs(2),
        write_timeout: Duration::from_secs(2),
        linger_timeout: Duration::from_millis(200),
        ..Limits::default()
    }
}

fn router() -> Router {
    Router::new()
        .get("/hello", |_| Response::text(200, "hello\n"))
        .post("/echo", |r| {
            Response::new(200).with_body("application/octet-stream", r.body.clone())
        })
        .get("/panic", |_| {
            panic!("handler panic (the test expects this)")
        })
        .get("/big", |_| {
            Response::new(200).with_body("application/octet-stream", vec![b'x'; 32 << 20])
        })
        .get("/inspect", |r| {
            let body = format!(
                "{}|{}|{}|{}",
                r.header("x-test").unwrap_or("-"),
                r.path,
                r.query_param("a").unwrap_or_default(),
                r.peer.map(|p| p.ip().to_string()).unwrap_or_default()
            );
            Response::text(200, body)
        })
        .get("/bad-header", |_| {
            Response::text(200, "x").with_header("X-Evil", "a\r\nInjected: 1")
        })
        .get("/no-content", |_| Response::new(204))
}

fn start(limits: Limits) -> HttpServer {
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    HttpServer::bind_with(addr, router().into_handler(), limits).unwrap()
}

fn connect(server: &HttpServer) -> TcpStream {
    let c = TcpStream::connect(server.local_addr()).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c
}

#[derive(Debug)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn closes(&self) -> bool {
        self.header("connection") == Some("close")
    }
}

fn bad(msg: &str) -> io::Error {
    io::Error::new(ErrorKind::InvalidData, msg.to_string())
}

/// Reads one response; `head_only` for a response to HEAD.
fn read_response(r: &mut impl BufRead, head_only: bool) -> io::Result<Resp> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Err(ErrorKind::UnexpectedEof.into());
    }
    let rest = line.strip_prefix("HTTP/1.1 ").ok_or_else(|| bad(&line))?;
    let status: u16 = rest
        .get(..3)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad(&line))?;
    if !rest.ends_with("\r\n") {
        return Err(bad("status line not CRLF-terminated"));
    }
    let mut headers = Vec::new();
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Err(ErrorKind::UnexpectedEof.into());
        }
        let l = line
            .strip_suffix("\r\n")
            .ok_or_else(|| bad("header not CRLF-terminated"))?;
        if l.is_empty() {
            break;
        }
        let (n, v) = l.split_once(": ").ok_or_else(|| bad(l))?;
        headers.push((n.to_string(), v.to_string()));
    }
    let mut resp = Resp {
        status,
        headers,
        body: Vec::new(),
    };
    if !head_only && !matches!(status, 100 | 204 | 304) {
        let len: usize = resp
            .header("content-length")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| bad("no Content-Length"))?;
        resp.body = vec![0; len];
        r.read_exact(&mut resp.body)?;
    }
    Ok(resp)
}

/// Sends `raw` on a fresh connection and reads one response.
fn exchange(server: &HttpServer, raw: &[u8]) -> Resp {
    let mut c = connect(server);
    c.write_all(raw).unwrap();
    let mut r = BufReader::new(c);
    read_response(&mut r, false).unwrap()
}

/// The next read on the connection sees end of stream.
fn assert_eof(r: &mut impl Read) {
    let mut b = [0u8; 1];
    match r.read(&mut b) {
        Ok(0) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        other => panic!("expected EOF, got {other:?}"),
    }
}

fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(10));
    }
}

const HELLO: &[u8] = b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n";

#[test]
fn get_with_headers_query_and_peer() {
    let server = start(quick_limits());
    let r = exchange(&server, HELLO);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"hello\n");
    assert_eq!(r.header("Content-Length"), Some("6"));
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    assert!(r.header("date").is_some_and(|d| d.ends_with(" GMT")));
    let r = exchange(
        &server,
        b"GET /inspect?z=1&a=b+c%21 HTTP/1.1\r\nhOsT: t\r\nX-TeSt:   v  \r\n\r\n",
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        String::from_utf8(r.body).unwrap(),
        "v|/inspect|b c!|127.0.0.1"
    );
}

#[test]
fn bare_lf_leading_blank_lines_and_absolute_form() {
    let server = start(quick_limits());
    assert_eq!(
        exchange(&server, b"GET /hello HTTP/1.1\nHost: t\n\n").status,
        200
    );
    assert_eq!(
        exchange(&server, b"\r\n\r\nGET /hello HTTP/1.1\r\nHost: t\r\n\r\n").status,
        200
    );
    assert_eq!(
        exchange(
            &server,
            b"GET http://t:9091/hello HTTP/1.1\r\nHost: t\r\n\r\n"
        )
        .status,
        200
    );
}

#[test]
fn keep_alive_and_pipelining() {
    let server = start(quick_limits());
    let mut c = connect(&server);
    c.write_all(b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\nPOST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nab\r\ncGET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut r = BufReader::new(c.try_clone().unwrap());
    let a = read_response(&mut r, false).unwrap();
    let b = read_response(&mut r, false).unwrap();
    let d = read_response(&mut r, false).unwrap();
    assert_eq!((a.status, a.body.as_slice()), (200, &b"hello\n"[..]));
    assert_eq!((b.status, b.body.as_slice()), (200, &b"ab\r\nc"[..]));
    assert_eq!(d.status, 200);
    assert!(!a.closes() && !b.closes() && !d.closes());
    // The connection stays usable after a pause.
    thread::sleep(Duration::from_millis(100));
    c.write_all(HELLO).unwrap();
    assert_eq!(read_response(&mut r, false).unwrap().status, 200);
    assert_eq!(server.active_connections(), 1);
}

#[test]
fn requests_per_connection_are_capped() {
    let server = start(Limits {
        max_requests_per_connection: 3,
        ..quick_limits()
    });
    let mut c = connect(&server);
    c.write_all(&HELLO.repeat(5)).unwrap();
    let mut r = BufReader::new(c);
    for i in 1..=3 {
        let resp = read_response(&mut r, false).unwrap();
        assert_eq!(resp.status, 200);
        assert_eq!(resp.closes(), i == 3, "response {i}");
    }
    assert_eq!(r.buffer(), b"");
    assert_eof(&mut r);
}

#[test]
fn connection_close_and_http10() {
    let server = start(quick_limits());
    // Connection: close is honoured.
    let mut c = connect(&server);
    c.write_all(b"GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut r = BufReader::new(c);
    assert!(read_response(&mut r, false).unwrap().closes());
    assert_eof(&mut r);
    // HTTP/1.0 closes by default; no Host needed.
    let mut c = connect(&server);
    c.write_all(b"GET /hello HTTP/1.0\r\n\r\n").unwrap();
    let mut r = BufReader::new(c);
    let resp = read_response(&mut r, false).unwrap();
    assert_eq!((resp.status, resp.closes()), (200, true));
    assert_eof(&mut r);
    // HTTP/1.0 with keep-alive stays open.
    let mut c = connect(&server);
    let req = b"GET /hello HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n";
    c.write_all(req).unwrap();
    let mut r = BufReader::new(c.try_clone().unwrap());
    let resp = read_response(&mut r, false).unwrap();
    assert_eq!(resp.header("connection"), Some("keep-alive"));
    c.write_all(req).unwrap();
    assert_eq!(read_response(&mut r, false).unwrap().status, 200);
}

#[test]
fn head_has_no_body_and_204_has_no_length() {
    let server = start(quick_limits());
    let mut c = connect(&server);
    c.write_all(b"HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\nGET /no-content HTTP/1.1\r\nHost: t\r\n\r\nGET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut r = BufReader::new(c);
    let head = read_response(&mut r, true).unwrap();
    assert_eq!(
        (head.status, head.header("content-length")),
        (200, Some("6"))
    );
    let empty = read_response(&mut r, false).unwrap();
    assert_eq!((empty.status, empty.header("content-length")), (204, None));
    // Parses only if neither response above carried body bytes.
    let get = read_response(&mut r, false).unwrap();
    assert_eq!((get.status, get.body.as_slice()), (200, &b"hello\n"[..]));
}

#[test]
fn unknown_path_wrong_method_and_options() {
    let server = start(quick_limits());
    assert_eq!(
        exchange(&server, b"GET /nope HTTP/1.1\r\nHost: t\r\n\r\n").status,
        404
    );
    let r = exchange(
        &server,
        b"POST /hello HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(
        (r.status, r.header("allow")),
        (405, Some("GET, HEAD, OPTIONS"))
    );
    let r = exchange(&server, b"OPTIONS /echo HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!((r.status, r.header("allow")), (204, Some("POST, OPTIONS")));
    let r = exchange(&server, b"get /hello HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.status, 405, "methods are case-sensitive");
}

#[test]
fn malformed_requests_get_400_and_close() {
    let server = start(quick_limits());
    let cases: &[&[u8]] = &[
        b"GARBAGE\r\n\r\n",
        b"GET /hello\r\nHost: t\r\n\r\n",
        b"GET  /hello HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET hello HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET /hel lo HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET /hello#frag HTTP/1.1\r\nHost: t\r\n\r\n",
        b"G(T /hello HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET /hello HTTP/1.x\r\nHost: t\r\n\r\n",
        b"GET /hello http/1.1\r\nHost: t\r\n\r\n",
        b"GET /hello HTTP/1.1\r\n\r\n",
        b"GET /hello HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        b"GET /hello HTTP/1.1\r\nHost t\r\n\r\n",
        b"GET /hello HTTP/1.1\r\nHost : t\r\n\r\n",
        b"GET /hello HTTP/1.1\r\nHost: t\r\n folded\r\n\r\n",
        b"GET /hello HTTP/1.1\r\nHost: t\rX: y\r\n\r\n",
        b"GET /hello HTTP/1.1\r\nHost: t\r\nX: a\0b\r\n\r\n",
        b"GET /hello HTTP/1.1\r\nHost: t\r\nX: \xff\xfe\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 12abc\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3, 4\r\n\r\nabcd",
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"GET ftp://t/hello HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET http:///hello HTTP/1.1\r\nHost: t\r\n\r\n",
    ];
    for case in cases {
        let r = exchange(&server, case);
        let shown = String::from_utf8_lossy(case);
        assert_eq!(r.status, 400, "{shown:?}");
        assert!(r.closes(), "{shown:?}");
    }
    // Repeated identical lengths are fine.
    let r = exchange(
        &server,
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2, 2\r\n\r\nok",
    );
    assert_eq!((r.status, r.body.as_slice()), (200, &b"ok"[..]));
    assert_eq!(exchange(&server, HELLO).status, 200);
}

#[test]
fn version_coding_and_expectation_errors() {
    let server = start(quick_limits());
    let status = |raw: &[u8]| exchange(&server, raw).status;
    assert_eq!(status(b"GET /hello HTTP/2.0\r\nHost: t\r\n\r\n"), 505);
    assert_eq!(status(b"GET /hello HTTP/0.9\r\n\r\n"), 505);
    assert_eq!(status(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"), 411);
    assert_eq!(
        status(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n"),
        501
    );
    assert_eq!(
        status(b"POST /echo HTTP/1.1\r\nHost: t\r\nExpect: teapot\r\nContent-Length: 1\r\n\r\nx"),
        417
    );
}

#[test]
fn expect_100_continue() {
    let server = start(quick_limits());
    let mut c = connect(&server);
    c.write_all(
        b"POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
    )
    .unwrap();
    let mut r = BufReader::new(c.try_clone().unwrap());
    let interim = read_response(&mut r, false).unwrap();
    assert_eq!(interim.status, 100);
    c.write_all(b"hello").unwrap();
    let resp = read_response(&mut r, false).unwrap();
    assert_eq!((resp.status, resp.body.as_slice()), (200, &b"hello"[..]));
}

#[test]
fn oversized_heads_get_431_or_414() {
    let server = start(quick_limits());
    let mut big_header = b"GET /hello HTTP/1.1\r\nHost: t\r\nX-Big: ".to_vec();
    big_header.extend(std::iter::repeat(b'a').take(17 * 1024));
    big_header.extend_from_slice(b"\r\n\r\n");
    assert_eq!(exchange(&server, &big_header).status, 431);
    // Just under the limit is fine.
    let mut fits = b"GET /hello HTTP/1.1\r\nHost: t\r\nX-Big: ".to_vec();
    fits.extend(std::iter::repeat(b'a').take(16 * 1024 - fits.len() - 4));
    fits.extend_from_slice(b"\r\n\r\n");
    assert_eq!(fits.len(), 16 * 1024);
    assert_eq!(exchange(&server, &fits).status, 200);
    // A head that never ends.
    let endless: Vec<u8> = b"GET /hello HTTP/1.1\r\n"
        .iter()
        .chain(b"X: y\r\n".repeat(4000).iter())
        .copied()
        .collect();
    assert_eq!(exchange(&server, &endless).status, 431);
    let mut long_uri = b"GET /".to_vec();
    long_uri.extend(std::iter::repeat(b'a').take(17 * 1024));
    long_uri.extend_from_slice(b" HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(exchange(&server, &long_uri).status, 414);
    let many: Vec<u8> = b"GET /hello HTTP/1.1\r\nHost: t\r\n"
        .iter()
        .chain(b"X: y\r\n".repeat(100).iter())
        .chain(b"\r\n")
        .copied()
        .collect();
    assert_eq!(exchange(&server, &many).status, 431);
}

#[test]
fn body_limit() {
    let server = start(quick_limits());
    // Refused from the header alone, before any body is sent.
    let r = exchange(
        &server,
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1048577\r\n\r\n",
    );
    assert_eq!((r.status, r.closes()), (413, true));
    let r = exchange(
        &server,
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999999999999999999\r\n\r\n",
    );
    assert_eq!(r.status, 400, "a length too long to parse is malformed");
    // Exactly the limit is accepted.
    let mut req = b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1048576\r\n\r\n".to_vec();
    req.extend((0..1048576u32).map(|i| i as u8));
    let r = exchange(&server, &req);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, req[req.len() - 1048576..]);
}

#[test]
fn handler_panic_is_500_and_server_lives() {
    let server = start(quick_limits());
    let mut c = connect(&server);
    c.write_all(b"GET /panic HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut r = BufReader::new(c);
    let resp = read_response(&mut r, false).unwrap();
    assert_eq!((resp.status, resp.closes()), (500, true));
    assert_eof(&mut r);
    assert_eq!(exchange(&server, HELLO).status, 200);
    // An invalid response (header injection) is replaced by a 500.
    let r = exchange(&server, b"GET /bad-header HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.status, 500);
    assert!(r.header("injected").is_none());
}

#[test]
fn concurrent_keep_alive_clients() {
    let server = start(quick_limits());
    let addr = server.local_addr();
    let clients: Vec<_> = (0..8)
        .map(|i| {
            thread::spawn(move || {
                let mut c = TcpStream::connect(addr).unwrap();
                c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut r = BufReader::new(c.try_clone().unwrap());
                for j in 0..25 {
                    let body = format!("client {i} request {j}");
                    let req = format!(
                        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    c.write_all(req.as_bytes()).unwrap();
                    let resp = read_response(&mut r, false).unwrap();
                    assert_eq!(resp.status, 200);
                    assert_eq!(resp.body, body.as_bytes());
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
}

#[test]
fn connections_beyond_the_limit_get_503() {
    let server = start(Limits {
        max_connections: 4,
        ..quick_limits()
    });
    let mut idle: Vec<TcpStream> = (0..4).map(|_| connect(&server)).collect();
    wait_until("4 active connections", Duration::from_secs(3), || {
        server.active_connections() == 4
    });
    // The fifth is told at once, without having to send anything.
    let mut r = BufReader::new(connect(&server));
    let resp = read_response(&mut r, false).unwrap();
    assert_eq!((resp.status, resp.closes()), (503, true));
    assert_eof(&mut r);
    assert_eq!(server.active_connections(), 4);
    // A client that sent its request before being refused also gets the 503.
    let resp = exchange(&server, HELLO);
    assert_eq!(resp.status, 503);
    // A freed slot is reused.
    idle.pop();
    wait_until("a free slot", Duration::from_secs(3), || {
        server.active_connections() == 3
    });
    assert_eq!(exchange(&server, HELLO).status, 200);
    // The idle ones still work.
    idle[0].write_all(HELLO).unwrap();
    let resp = read_response(&mut BufReader::new(&idle[0]), false).unwrap();
    assert_eq!(resp.status, 200);
}

#[test]
fn slowloris_gets_408_without_stopping_others() {
    let server = start(quick_limits()); // head_timeout 2 s
    let addr = server.local_addr();
    let slow = thread::spawn(move || {
        let started = Instant::now();
        let mut c = TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let mut got = Vec::new();
        for &b in HELLO {
            // One byte per second, until the server answers.
            if c.write_all(&[b]).is_err() {
                break;
            }
            let mut buf = [0u8; 512];
            let until = Instant::now() + Duration::from_secs(1);
            while Instant::now() < until {
                match c.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                    Err(_) => {}
                }
            }
            if !got.is_empty() {
                break;
            }
        }
        let resp = read_response(&mut BufReader::new(&got[..]), false).unwrap();
        (resp.status, started.elapsed())
    });
    let mut fast = Duration::ZERO;
    for _ in 0..20 {
        let t = Instant::now();
        assert_eq!(exchange(&server, HELLO).status, 200);
        fast = fast.max(t.elapsed());
        thread::sleep(Duration::from_millis(50));
    }
    let (status, took) = slow.join().unwrap();
    assert_eq!(status, 408);
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(4),
        "{took:?}"
    );
    assert!(
        fast < Duration::from_secs(1),
        "slowest normal request took {fast:?}"
    );
}

#[test]
fn idle_and_body_timeouts() {
    let server = start(Limits {
        head_timeout: Duration::from_millis(300),
        idle_timeout: Duration::from_millis(300),
        body_timeout: Duration::from_millis(300),
        ..quick_limits()
    });
    // A connection that never sends a request.
    let mut r = BufReader::new(connect(&server));
    assert_eq!(read_response(&mut r, false).unwrap().status, 408);
    // An idle kept-alive connection is closed without a word.
    let mut c = connect(&server);
    c.write_all(HELLO).unwrap();
    let mut r = BufReader::new(c);
    assert_eq!(read_response(&mut r, false).unwrap().status, 200);
    let t = Instant::now();
    assert_eof(&mut r);
    assert!(t.elapsed() >= Duration::from_millis(250));
    // Blank lines trickled between requests do not keep it open either.
    let mut c = connect(&server);
    c.write_all(HELLO).unwrap();
    let mut r = BufReader::new(c.try_clone().unwrap());
    assert_eq!(read_response(&mut r, false).unwrap().status, 200);
    let t = Instant::now();
    let mut writes = 0;
    while c.write_all(b"\r\n").is_ok() && t.elapsed() < Duration::from_secs(3) {
        writes += 1;
        thread::sleep(Duration::from_millis(50));
    }
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "held open for {:?}",
        t.elapsed()
    );
    assert!(writes >= 4, "{writes}");
    // A body that stops halfway.
    let mut c = connect(&server);
    c.write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc")
        .unwrap();
    let mut r = BufReader::new(c);
    assert_eq!(read_response(&mut r, false).unwrap().status, 408);
}

#[test]
fn write_deadline_frees_a_client_that_does_not_read() {
    let server = start(Limits {
        write_timeout: Duration::from_millis(500),
        ..quick_limits()
    });
    let mut c = connect(&server);
    c.write_all(b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    wait_until("the connection to start", Duration::from_secs(3), || {
        server.active_connections() == 1
    });
    // 32 MiB cannot fit in the socket buffers of a client that never reads.
    wait_until("the write deadline", Duration::from_secs(5), || {
        server.active_connections() == 0
    });
    assert_eq!(exchange(&server, HELLO).status, 200);
    drop(c);
}

#[test]
fn shutdown_is_prompt_and_closes_connections() {
    let mut server = start(quick_limits());
    let addr = server.local_addr();
    let idle = connect(&server);
    let mut partial = connect(&server);
    partial.write_all(b"GET /hel").unwrap();
    wait_until("2 connections", Duration::from_secs(3), || {
        server.active_connections() == 2
    });
    let t = Instant::now();
    server.shutdown();
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(server.active_connections(), 0);
    assert_eof(&mut &idle);
    assert!(TcpStream::connect(addr).is_err(), "listener still open");
    server.shutdown(); // idempotent
}

#[test]
fn garbage_bytes() {
    let server = start(quick_limits());
    let mut rng = XorShift64::new(7);
    for len in [1usize, 17, 600, 4096, 20000] {
        let mut junk = vec![0u8; len];
        rng.fill(&mut junk);
        let mut c = connect(&server);
        let _ = c.write_all(&junk);
        let _ = c.shutdown(Shutdown::Write);
        let mut out = Vec::new();
        let _ = c.read_to_end(&mut out);
        if !out.is_empty() {
            let status = read_response(&mut BufReader::new(&out[..]), false)
                .unwrap()
                .status;
            assert!([400, 414, 431].contains(&status), "len {len}: {status}");
        }
    }
    assert_eq!(exchange(&server, HELLO).status, 200);
}

/// Random request bytes, often a mutated valid request.
fn fuzz_case(rng: &mut XorShift64) -> Vec<u8> {
    const TEMPLATES: [&[u8]; 5] = [
        b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nbody",
        b"HEAD /inspect?a=%41 HTTP/1.0\r\nX-Test: 1\r\nConnection: keep-alive\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi",
        b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\nGET /nope HTTP/1.1\r\nHost: t\r\n\r\n",
    ];
    const SPECIAL: &[u8] = b"\r\n: \t\0\xff%?/#,0123456789HTTP";
    if rng.chance(1, 5) {
        let mut junk = vec![0u8; rng.below(700) as usize];
        rng.fill(&mut junk);
        return junk;
    }
    let mut v = TEMPLATES[rng.below(TEMPLATES.len() as u64) as usize].to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(v.len() as u64 + 1) as usize;
        match rng.below(6) {
            0 if at < v.len() => v[at] ^= 1 << rng.below(8),
            1 => v.insert(at, SPECIAL[rng.below(SPECIAL.len() as u64) as usize]),
            2 if at < v.len() => {
                let n = (rng.below(8) as usize).min(v.len() - at);
                v.drain(at..at + n);
            }
            3 => {
                let n = rng.below(64) as usize;
                let byte = SPECIAL[rng.below(SPECIAL.len() as u64) as usize];
                v.splice(at..at, std::iter::repeat(byte).take(n));
            }
            4 => v.truncate(at),
            _ => {
                let copy = v[at..].to_vec();
                v.extend_from_slice(&copy);
            }
        }
    }
    v
}

#[test]
fn mini_fuzz_keeps_the_server_answering() {
    let server = start(quick_limits());
    let mut rng = XorShift64::new(0x5eed);
    let mut statuses = BTreeMap::new();
    for i in 0..1000 {
        let case = fuzz_case(&mut rng);
        let mut c = connect(&server);
        let _ = c.write_all(&case);
        let _ = c.shutdown(Shutdown::Write);
        let mut out = Vec::new();
        let t = Instant::now();
        let _ = c.read_to_end(&mut out);
        assert!(
            t.elapsed() < Duration::from_secs(3),
            "case {i} hung: {case:?}"
        );
        // Whatever came back starts with a well-formed response (one to a
        // HEAD request has no body, whichever bytes the mutation left).
        if !out.is_empty() {
            let parse = |head_only| read_response(&mut BufReader::new(&out[..]), head_only);
            let resp = parse(false).or_else(|_| parse(true)).unwrap_or_else(|e| {
                panic!(
                    "case {i}: bad response {e}: {:?}",
                    String::from_utf8_lossy(&out)
                )
            });
            *statuses.entry(resp.status).or_insert(0u32) += 1;
        }
        if i % 25 == 0 {
            assert_eq!(exchange(&server, HELLO).status, 200, "after case {i}");
        }
    }
    assert_eq!(exchange(&server, HELLO).status, 200);
    wait_until(
        "all fuzz connections to end",
        Duration::from_secs(3),
        || server.active_connections() <= 1,
    );
    // The corpus exercised both success and several error paths.
    assert!(
        statuses.contains_key(&200) && statuses.contains_key(&400),
        "{statuses:?}"
    );
    assert!(statuses.len() >= 4, "{statuses:?}");
}

#[test]
fn router_without_sockets() {
    let router = Router::new()
        .get("/a", |_| Response::text(200, "a"))
        .route("PUT", "/a", |_| Response::text(201, "put"));
    assert_eq!(router.handle(&Request::new("GET", "/a?x=1")).status, 200);
    assert_eq!(router.handle(&Request::new("HEAD", "/a")).status, 200);
    assert_eq!(router.handle(&Request::new("PUT", "/a")).status, 201);
    let r = router.handle(&Request::new("DELETE", "/a"));
    assert_eq!(
        (r.status, r.header("Allow")),
        (405, Some("GET, PUT, HEAD, OPTIONS"))
    );
    assert_eq!(router.handle(&Request::new("GET", "/b")).status, 404);
}

#[test]
fn small_parsers() {
    assert_eq!(find_head_end(b"GET / HTTP/1.1\r\n\r\nrest", 0), Some(18));
    assert_eq!(find_head_end(b"GET / HTTP/1.1\n\nrest", 0), Some(16));
    assert_eq!(find_head_end(b"GET / HTTP/1.1\r\nA: b\r\n", 0), None);
    // Incremental search finds a terminator split across reads.
    assert_eq!(find_head_end(b"GET / HTTP/1.1\r\n\r\n", 16), Some(18));
    assert_eq!(
        target_path("http://h:1/p?q=1"),
        Some(("/p".to_string(), Some("q=1".to_string())))
    );
    assert_eq!(target_path("HTTP://h"), Some(("/".to_string(), None)));
    assert_eq!(target_path("h/p"), None);
    assert_eq!(percent_decode("a%20b+c%2B"), Some("a b c+".to_string()));
    assert_eq!(percent_decode("%zz"), None);
    assert_eq!(percent_decode("%e2%82%ac"), Some("\u{20ac}".to_string()));
    assert_eq!(percent_decode("%ff"), None);
    assert_eq!(
        http_date(UNIX_EPOCH + Duration::from_secs(784_111_777)),
        "Sun, 06 Nov 1994 08:49:37 GMT"
    );
    assert_eq!(
        http_date(UNIX_EPOCH + Duration::from_secs(951_782_400)),
        "Tue, 29 Feb 2000 00:00:00 GMT"
    );
    assert!(has_token("keep-alive, Close", "close"));
    assert_eq!(trim_ows(b" \t x y \t"), b"x y");
}
