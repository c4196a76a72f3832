//! cocoon-ttrpc-rust-peer: the Rust side of cocoon's ttrpc interop tests, on the ttrpc crate
//! 0.5.2 from Debian (async server and client, as the kata-agent uses them).
//!
//!   cocoon-ttrpc-rust-peer server SOCKETPATH   serve "test.Echo" until SIGTERM/SIGINT
//!   cocoon-ttrpc-rust-peer client SOCKETPATH   run the interop checks against a server (TAP)
//!
//! "test.Echo" has the semantics documented in tests/common/echo-service.h.

use std::collections::HashMap;
use std::os::unix::io::IntoRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use protobuf::well_known_types::{BytesValue, Empty, StringValue};
use protobuf::{Message, ProtobufEnum};
use ttrpc::r#async::{Client, MethodHandler, Server, TtrpcContext};
use ttrpc::{Code, Request, Response, Status};

const SERVICE: &str = "test.Echo";
const MESSAGE_LENGTH_MAX: usize = 4 << 20;

// --- the service ---

struct EchoState {
    released: tokio::sync::Semaphore,
}

struct EchoMethod {
    name: &'static str,
    state: Arc<EchoState>,
}

fn status(code: Code, msg: &str) -> Status {
    ttrpc::get_status(code, msg)
}

fn parse<M: Message>(payload: &[u8]) -> Result<M, Status> {
    M::parse_from_bytes(payload)
        .map_err(|e| status(Code::INVALID_ARGUMENT, &format!("cannot decode payload: {}", e)))
}

fn encode<M: Message>(m: &M) -> Result<Vec<u8>, Status> {
    m.write_to_bytes()
        .map_err(|e| status(Code::INTERNAL, &format!("cannot encode reply: {}", e)))
}

impl EchoMethod {
    async fn run(&self, ctx: &TtrpcContext, req: &Request) -> Result<Vec<u8>, Status> {
        match self.name {
            "Echo" => {
                let input: BytesValue = parse(&req.payload)?;
                let mut out = BytesValue::new();
                out.set_value(input.get_value().to_vec());
                encode(&out)
            }
            "Fail" => {
                let input: StringValue = parse(&req.payload)?;
                let v = input.get_value();
                let bad = || {
                    status(
                        Code::INVALID_ARGUMENT,
                        &format!("Fail wants \"CODE:MESSAGE\", got \"{}\"", v),
                    )
                };
                let (code, msg) = v.split_once(':').ok_or_else(bad)?;
                let code: i32 = code.parse().map_err(|_| bad())?;
                let code = Code::from_i32(code).unwrap_or(Code::UNKNOWN);
                Err(status(code, msg))
            }
            "Sleep" => {
                let input: StringValue = parse(&req.payload)?;
                let ms: u64 = input.get_value().parse().unwrap_or(0);
                tokio::time::sleep(Duration::from_millis(ms)).await;
                encode(&Empty::new())
            }
            "Block" => {
                let _: Empty = parse(&req.payload)?;
                self.state
                    .released
                    .acquire()
                    .await
                    .map_err(|_| status(Code::UNAVAILABLE, "server stopping"))?
                    .forget();
                encode(&Empty::new())
            }
            "Release" => {
                let _: Empty = parse(&req.payload)?;
                self.state.released.add_permits(1);
                encode(&Empty::new())
            }
            "Meta" => {
                let input: StringValue = parse(&req.payload)?;
                let mut v = ctx
                    .metadata
                    .get(input.get_value())
                    .and_then(|l| l.first())
                    .cloned()
                    .unwrap_or_default();
                if ctx.timeout_nano > 0 {
                    v.push_str(";deadline");
                }
                let mut out = StringValue::new();
                out.set_value(v);
                encode(&out)
            }
            _ => Err(status(Code::UNIMPLEMENTED, &format!("method {}", self.name))),
        }
    }
}

#[async_trait]
impl MethodHandler for EchoMethod {
    async fn handler(&self, ctx: TtrpcContext, req: Request) -> ttrpc::Result<(u32, Vec<u8>)> {
        let mut res = Response::new();
        match self.run(&ctx, &req).await {
            Ok(payload) => {
                res.set_status(status(Code::OK, ""));
                res.set_payload(payload);
            }
            Err(st) => res.set_status(st),
        }
        Ok((ctx.mh.stream_id, ttrpc::r#async::convert_response_to_buf(res)?))
    }
}

async fn run_server(path: &str) -> i32 {
    // ttrpc 0.5.2's Server::bind sets SO_REUSEPORT, which AF_UNIX refuses on some kernels, and
    // reads "unix://x" as an abstract name: bind the socket ourselves and hand over its fd.
    let listener = match UnixListener::bind(path) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("server: bind {}: {}", path, e);
            return 1;
        }
    };
    let state = Arc::new(EchoState { released: tokio::sync::Semaphore::new(0) });
    let mut methods: HashMap<String, Box<dyn MethodHandler + Send + Sync>> = HashMap::new();
    for name in ["Echo", "Fail", "Sleep", "Block", "Release", "Meta"] {
        methods.insert(
            format!("/{}/{}", SERVICE, name),
            Box::new(EchoMethod { name, state: state.clone() }),
        );
    }
    let mut server = match Server::new().add_listener(listener.into_raw_fd()) {
        Ok(s) => s.set_domain_unix().register_service(methods),
        Err(e) => {
            eprintln!("server: {:?}", e);
            return 1;
        }
    };
    if let Err(e) = server.start().await {
        eprintln!("server: start: {:?}", e);
        return 1;
    }
    println!("ready");
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    state.released.close();
    let _ = std::fs::remove_file(path);
    let _ = tokio::time::timeout(Duration::from_secs(2), server.shutdown()).await;
    0
}

// --- the client checks ---

#[derive(Debug)]
enum CallError {
    Status(Code, String),
    LocalTimeout,
    Other(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            CallError::Status(c, m) => write!(f, "status {:?} \"{}\"", c, m),
            CallError::LocalTimeout => write!(f, "timed out locally"),
            CallError::Other(m) => write!(f, "{}", m),
        }
    }
}

async fn call(
    c: &Client,
    service: &str,
    method: &str,
    payload: Vec<u8>,
    timeout: Option<Duration>,
    md: &[(&str, &str)],
) -> Result<Vec<u8>, CallError> {
    let mut req = Request::new();
    req.set_service(service.to_string());
    req.set_method(method.to_string());
    req.set_payload(payload);
    if let Some(t) = timeout {
        req.set_timeout_nano(t.as_nanos() as i64);
    }
    let mut m = HashMap::new();
    for (k, v) in md {
        m.insert(k.to_string(), vec![v.to_string()]);
    }
    req.set_metadata(ttrpc::context::to_pb(m));
    let mut c = c.clone();
    let res = match timeout {
        Some(t) => match tokio::time::timeout(t, c.request(req)).await {
            Ok(r) => r,
            Err(_) => return Err(CallError::LocalTimeout),
        },
        None => c.request(req).await,
    };
    match res {
        Ok(r) => Ok(r.payload),
        Err(ttrpc::Error::RpcStatus(st)) => {
            Err(CallError::Status(st.get_code(), st.get_message().to_string()))
        }
        Err(e) => Err(CallError::Other(format!("{:?}", e))),
    }
}

fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i.wrapping_mul(31) as u8) ^ seed).collect()
}

fn bytes_value(data: Vec<u8>) -> Vec<u8> {
    let mut v = BytesValue::new();
    v.set_value(data);
    v.write_to_bytes().unwrap()
}

fn string_value(s: &str) -> Vec<u8> {
    let mut v = StringValue::new();
    v.set_value(s.to_string());
    v.write_to_bytes().unwrap()
}

fn empty() -> Vec<u8> {
    Empty::new().write_to_bytes().unwrap()
}

async fn echo(c: &Client, data: &[u8], timeout: Duration) -> Result<(), String> {
    let out = call(c, SERVICE, "Echo", bytes_value(data.to_vec()), Some(timeout), &[])
        .await
        .map_err(|e| e.to_string())?;
    let got = BytesValue::parse_from_bytes(&out).map_err(|e| e.to_string())?;
    if got.get_value() != data {
        return Err(format!(
            "echo of {} bytes came back as {} different bytes",
            data.len(),
            got.get_value().len()
        ));
    }
    Ok(())
}

fn expect_status(r: Result<Vec<u8>, CallError>, code: Code, msg: Option<&str>) -> Result<(), String> {
    match r {
        Err(CallError::Status(c, m)) if c == code && msg.map_or(true, |want| want == m) => Ok(()),
        Err(e) => Err(format!("got {}, want {:?} \"{}\"", e, code, msg.unwrap_or("..."))),
        Ok(_) => Err(format!("succeeded, want {:?}", code)),
    }
}

type Notes = Vec<String>;

async fn check_echo(c: &Client, _: &mut Notes) -> Result<(), String> {
    for n in [0usize, 1, 64 << 10] {
        echo(c, &pattern(n, 0x5a), Duration::from_secs(5))
            .await
            .map_err(|e| format!("{} bytes: {}", n, e))?;
    }
    Ok(())
}

async fn check_large_echo(c: &Client, _: &mut Notes) -> Result<(), String> {
    echo(c, &pattern(MESSAGE_LENGTH_MAX - 1024, 7), Duration::from_secs(10)).await
}

async fn check_errors(c: &Client, _: &mut Notes) -> Result<(), String> {
    let cases = [
        (5, "container abc: not found"),
        (3, "invalid: bad spec"),
        (6, "container abc: already exists"),
        (9, "process not created"),
        (12, "not implemented: Checkpoint"),
        (14, "agent: connection refused"),
    ];
    for (code, msg) in cases {
        let arg = format!("{}:{}", code, msg);
        let r = call(c, SERVICE, "Fail", string_value(&arg), Some(Duration::from_secs(5)), &[]).await;
        expect_status(r, Code::from_i32(code).unwrap(), Some(msg))
            .map_err(|e| format!("Fail \"{}\": {}", arg, e))?;
    }
    Ok(())
}

async fn check_unimplemented(c: &Client, _: &mut Notes) -> Result<(), String> {
    let t = Some(Duration::from_secs(5));
    let r = call(c, "no.Such", "X", empty(), t, &[]).await;
    expect_status(r, Code::UNIMPLEMENTED, Some("service no.Such"))
        .map_err(|e| format!("unknown service: {}", e))?;
    let r = call(c, SERVICE, "Nope", empty(), t, &[]).await;
    expect_status(r, Code::UNIMPLEMENTED, Some("method Nope"))
        .map_err(|e| format!("unknown method: {}", e))
}

async fn check_metadata(c: &Client, _: &mut Notes) -> Result<(), String> {
    let md = [("containerd-namespace-ttrpc", "k8s.io")];
    for (timeout, want) in [(None, "k8s.io"), (Some(Duration::from_secs(3)), "k8s.io;deadline")] {
        let out = call(c, SERVICE, "Meta", string_value(md[0].0), timeout, &md)
            .await
            .map_err(|e| format!("timeout {:?}: {}", timeout, e))?;
        let got = StringValue::parse_from_bytes(&out).map_err(|e| e.to_string())?;
        if got.get_value() != want {
            return Err(format!("timeout {:?}: got \"{}\", want \"{}\"", timeout, got.get_value(), want));
        }
    }
    Ok(())
}

async fn check_concurrent(c: &Client, _: &mut Notes) -> Result<(), String> {
    let mut tasks = Vec::new();
    for id in 0..8 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            for j in 0..200 {
                let data = format!("caller {} call {} {}", id, j, "x".repeat((j * 7) % 200));
                echo(&c, data.as_bytes(), Duration::from_secs(10))
                    .await
                    .map_err(|e| format!("caller {} call {}: {}", id, j, e))?;
            }
            Ok::<(), String>(())
        }));
    }
    let mut first = Ok(());
    for t in tasks {
        let r = t.await.map_err(|e| e.to_string()).and_then(|r| r);
        if first.is_ok() {
            first = r;
        }
    }
    first
}

async fn check_block(c: &Client, _: &mut Notes) -> Result<(), String> {
    let done = Arc::new(AtomicBool::new(false));
    let (c2, done2) = (c.clone(), done.clone());
    let blocker = tokio::spawn(async move {
        let r = call(&c2, SERVICE, "Block", empty(), Some(Duration::from_secs(20)), &[]).await;
        done2.store(true, Ordering::SeqCst);
        r
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    for i in 0..10 {
        echo(c, format!("ping {}", i).as_bytes(), Duration::from_secs(2))
            .await
            .map_err(|e| format!("echo {} while Block is pending: {}", i, e))?;
    }
    if done.load(Ordering::SeqCst) {
        return Err("Block returned before Release".to_string());
    }
    call(c, SERVICE, "Release", empty(), Some(Duration::from_secs(5)), &[])
        .await
        .map_err(|e| format!("Release: {}", e))?;
    match tokio::time::timeout(Duration::from_secs(5), blocker).await {
        Ok(Ok(Ok(_))) => Ok(()),
        Ok(Ok(Err(e))) => Err(format!("Block: {}", e)),
        Ok(Err(e)) => Err(format!("Block task: {}", e)),
        Err(_) => Err("Block did not return within 5 s of Release".to_string()),
    }
}

async fn check_oversized(c: &Client, notes: &mut Notes) -> Result<(), String> {
    let start = Instant::now();
    let r = call(
        c,
        SERVICE,
        "Echo",
        bytes_value(pattern(MESSAGE_LENGTH_MAX + 1, 3)),
        Some(Duration::from_secs(20)),
        &[],
    )
    .await;
    notes.push(format!(
        "Rust client sent Echo(4 MiB + 1 bytes); got {} after {:?}",
        match &r {
            Ok(_) => "success".to_string(),
            Err(e) => e.to_string(),
        },
        start.elapsed()
    ));
    match r {
        Ok(_) => return Err("an Echo of 4 MiB + 1 bytes succeeded".to_string()),
        Err(CallError::Status(code, msg)) if code != Code::RESOURCE_EXHAUSTED => {
            return Err(format!("status {:?} \"{}\", want RESOURCE_EXHAUSTED", code, msg))
        }
        Err(_) => {}
    }
    echo(c, b"after oversized", Duration::from_secs(5))
        .await
        .map_err(|e| format!("next call on the same connection: {}", e))
}

async fn check_deadline(c: &Client, notes: &mut Notes) -> Result<(), String> {
    let start = Instant::now();
    let r = call(c, SERVICE, "Sleep", string_value("500"), Some(Duration::from_millis(100)), &[]).await;
    let took = start.elapsed();
    match r {
        Ok(_) => return Err("Sleep 500 with a 100 ms timeout succeeded".to_string()),
        Err(CallError::LocalTimeout) => notes.push("the Rust client's own timeout fired".to_string()),
        Err(CallError::Status(Code::DEADLINE_EXCEEDED, m)) => {
            notes.push(format!("the server answered DEADLINE_EXCEEDED \"{}\"", m))
        }
        Err(e) => return Err(format!("got {}, want DEADLINE_EXCEEDED", e)),
    }
    if took < Duration::from_millis(100) || took > Duration::from_millis(400) {
        return Err(format!("returned after {:?}, want 100-400 ms", took));
    }
    echo(c, b"after deadline", Duration::from_secs(5))
        .await
        .map_err(|e| format!("next call: {}", e))?;
    tokio::time::sleep(Duration::from_millis(450)).await;
    echo(c, b"after the late reply", Duration::from_secs(5))
        .await
        .map_err(|e| format!("call after the late reply: {}", e))
}

macro_rules! checks {
    ($c:expr, $( $name:expr => $f:ident ),* $(,)?) => {{
        let names = [$($name),*];
        println!("1..{}", names.len());
        let mut failed = 0;
        $(
            let mut notes = Notes::new();
            match $f($c, &mut notes).await {
                Ok(()) => println!("ok - {}", $name),
                Err(e) => {
                    failed += 1;
                    println!("not ok - {}: {}", $name, e);
                }
            }
            for n in notes {
                println!("# {}", n);
            }
        )*
        failed
    }};
}

async fn run_client(path: &str) -> i32 {
    let fd = match UnixStream::connect(path) {
        Ok(s) => s.into_raw_fd(),
        Err(e) => {
            println!("1..1\nnot ok - connect to {}: {}", path, e);
            return 1;
        }
    };
    let c = Client::new(fd);
    let failed = checks!(&c,
        "unary echo of 0, 1 and 65536 bytes is byte-exact" => check_echo,
        "echo of 4 MiB - 1 KiB (just under the frame limit) is byte-exact" => check_large_echo,
        "error codes 5, 3, 6, 9, 12, 14 and their messages come through exactly" => check_errors,
        "unknown service / method -> UNIMPLEMENTED \"service no.Such\" / \"method Nope\"" => check_unimplemented,
        "metadata containerd-namespace-ttrpc=k8s.io reaches the handler, timeout too" => check_metadata,
        "8 concurrent callers x 200 calls, all byte-exact" => check_concurrent,
        "a blocked call (Block) does not stall 10 Echo calls; Release ends it" => check_block,
        "oversized request (Echo of 4 MiB + 1 bytes) -> RESOURCE_EXHAUSTED, connection still works" => check_oversized,
        "Sleep 500 with a 100 ms timeout -> DEADLINE_EXCEEDED, connection still works" => check_deadline,
    );
    if failed > 0 {
        1
    } else {
        0
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let code = match (args.len(), args.get(1).map(String::as_str)) {
        (3, Some("server")) => run_server(&args[2]).await,
        (3, Some("client")) => run_client(&args[2]).await,
        _ => {
            eprintln!("usage: cocoon-ttrpc-rust-peer server|client SOCKETPATH");
            2
        }
    };
    std::process::exit(code);
}
