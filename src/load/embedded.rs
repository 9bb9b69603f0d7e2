//! The reference server embedded in a load run (no `--target`): on a tokio runtime and a
//! thread of its own, so server and load generator do not share a scheduler.

use std::time::Duration;

use reference_server::{ReferenceServer, ServerConfig, TlsIdentity};

use crate::exit::Failure;
use crate::target::Target;

/// The reference server on a runtime and thread of its own.
pub struct EmbeddedServer {
    pub target: Target,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EmbeddedServer {
    /// With `tls`, it serves HTTPS with that identity (and asks for client certificates).
    pub fn start(
        token_ttl: u64,
        workers: usize,
        tls: Option<TlsIdentity>,
    ) -> Result<EmbeddedServer, Failure> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let config = ServerConfig {
            token_ttl: Duration::from_secs(token_ttl.max(1)),
            tls,
            ..ServerConfig::default()
        };
        let thread = std::thread::Builder::new()
            .name("reference-server".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(workers.max(1))
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.to_string()));
                        return;
                    }
                };
                runtime.block_on(async move {
                    match ReferenceServer::start(
                        config,
                        "127.0.0.1:0".parse().expect("valid address"),
                    )
                    .await
                    {
                        Ok(server) => {
                            let _ = ready_tx.send(Ok(Target::reference(&server)));
                            let _ = stopped.await;
                            server.shutdown().await;
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e.to_string()));
                        }
                    }
                });
            })
            .map_err(|e| Failure::runtime(format!("cannot start the embedded server: {e}")))?;
        let target = ready_rx
            .recv()
            .map_err(|_| Failure::runtime("the embedded server thread ended early"))?
            .map_err(|e| Failure::runtime(format!("cannot start the embedded server: {e}")))?;
        Ok(EmbeddedServer {
            target,
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for EmbeddedServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
