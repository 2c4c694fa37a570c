//! `lazarus serve`: the store over HTTP (the `lazarus-server` package) until Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use lazarus_commands::commands::{Outcome, Place};
use lazarus_commands::{fail, Failure};

/// What `serve` takes from the command line.
pub struct ServeArgs<'a> {
    /// `HOST:PORT`.
    pub addr: &'a str,
    /// A file holding the bearer token clients must send.
    pub token_file: Option<&'a Path>,
    /// Refuse every write.
    pub read_only: bool,
    /// The largest request body, in bytes.
    pub body_limit: usize,
}

/// Serves the store at `place` until stopped, then closes it.
pub fn serve(place: &Place, args: &ServeArgs) -> Result<Outcome, Failure> {
    let addr: SocketAddr = args.addr.parse().map_err(|_| {
        fail(
            2,
            format!(
                "`{}` is not an address to listen on: use IP:PORT, e.g. 127.0.0.1:7070",
                args.addr
            ),
        )
    })?;
    let token = match args.token_file {
        Some(file) => {
            let text = std::fs::read_to_string(file).map_err(|e| {
                fail(
                    2,
                    format!("cannot read the token file {}: {e}", file.display()),
                )
            })?;
            let token = text.trim().to_string();
            if token.len() < 16 {
                return Err(fail(
                    2,
                    format!(
                        "the token in {} is shorter than 16 characters: use a long random one",
                        file.display()
                    ),
                ));
            }
            Some(token)
        }
        None => None,
    };
    if !addr.ip().is_loopback() && token.is_none() {
        return Err(fail(
            2,
            format!(
                "{addr} is not a loopback address: serving a store beyond this machine needs a \
                 bearer token (--token-file FILE)"
            ),
        ));
    }
    let db = Arc::new(place.open(false)?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| fail(2, format!("cannot start the server's runtime: {e}")))?;
    let options = lazarus_server::ServerOptions {
        read_only: args.read_only,
        token,
        body_limit: args.body_limit,
    };
    eprintln!(
        "serving {} on http://{addr}/ (the trash page; the JSON API under /api){} - Ctrl-C stops",
        place.path.display(),
        if args.read_only { ", read-only" } else { "" }
    );
    let served = runtime.block_on(lazarus_server::serve(db.clone(), addr, options, stopped()));
    drop(runtime);
    let closed = match Arc::try_unwrap(db) {
        Ok(db) => db
            .close()
            .map_err(|e| fail(2, format!("cannot close the store: {e}"))),
        // a request still running holds it: dropping the last handle closes it
        Err(_) => Ok(()),
    };
    served.map_err(|e| fail(2, e.to_string()))?;
    closed?;
    Ok(Outcome::Served {
        addr: addr.to_string(),
    })
}

/// Completes on Ctrl-C or SIGTERM.
async fn stopped() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    {
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term => {}
        }
    }
    #[cfg(not(unix))]
    ctrl_c.await;
}
