//! `palisade serve`: the console, until SIGINT or SIGTERM.

use super::Outcome;
use crate::config::{Secret, ServeArgs, StoreArgs};
use anyhow::Context;

pub async fn serve(args: &ServeArgs, store: &StoreArgs) -> Outcome {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let config = args.config(store)?;
    let console = palisade_console::Console::open(&config.database_url).await?;
    crate::http::session::first_admin(&console, config.admin_password.as_ref().map(Secret::expose))
        .await?;
    let bind = |addr| async move {
        tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding {addr}"))
    };
    let listeners = crate::http::Listeners {
        people: bind(config.addr).await?,
        defenders: bind(config.defender_addr).await?,
    };
    crate::serve(listeners, &config, console, shutdown_signal()).await?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
