//! `coffre server`: opens the engine, serves S3 (optionally over TLS) and the admin listener,
//! and shuts down cleanly on SIGTERM/SIGINT: stop accepting, let in-flight requests finish
//! within a bounded grace period, then exit. Every acknowledged write is already durable.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use coffre_s3::{AccessControl, BucketAccessCache, CoffreS3, Front, FrontConfig, FrontLimits};
use coffre_store::{Store, StoreConfig};
use hyper_util::server::graceful::GracefulShutdown;
use metrics_exporter_prometheus::PrometheusBuilder;
use s3s::service::S3ServiceBuilder;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::{Config, Kms, TlsMode};

/// Prints a line for the operator. A closed stdout (a supervisor that stopped reading) must
/// never bring the server down, so write errors are ignored.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}
use crate::{credentials, tls};

/// Connections the admin listener serves at once (health checks, metrics, operators).
const ADMIN_CONNECTIONS_MAX: usize = 64;

/// Records waiting for server access log delivery; beyond this, delivery (best effort, as in
/// S3) drops records rather than hold memory. The audit trail keeps them all.
const ACCESS_LOG_QUEUE_RECORDS: usize = 100_000;

/// Largest file accepted by a browser-form upload (PostObject), which s3s buffers.
const POST_OBJECT_BYTES_MAX: u64 = 64 * 1024 * 1024;

pub async fn run(config: Config) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.data_dir).with_context(|| format!("create {}", config.data_dir.display()))?;
    let (root, generated) = credentials::load_or_create(&config.data_dir)?;
    // The local master key may be sealed under a passphrase (Argon2id); it comes only from the
    // environment, never from the config file.
    let passphrase = std::env::var("COFFRE_MASTER_KEY_PASSPHRASE").ok().filter(|p| !p.is_empty());
    let local = Arc::new(
        coffre_crypto::LocalKeyProvider::open_with_passphrase(&config.data_dir.join("keys"), passphrase.as_deref())
            .context("open the key store")?,
    );
    drop(passphrase);
    let keys: Arc<dyn coffre_crypto::KeyAdmin> = match &config.kms {
        Kms::Local => Arc::clone(&local) as Arc<dyn coffre_crypto::KeyAdmin>,
        Kms::Pkcs11 { module, token_label } => {
            let pin = std::env::var("COFFRE_PKCS11_PIN").context("--kms pkcs11 needs COFFRE_PKCS11_PIN")?;
            Arc::new(
                coffre_crypto::Pkcs11KeyProvider::open(coffre_crypto::Pkcs11Config {
                    module: module.clone(),
                    token_label: token_label.clone(),
                    pin,
                    state_dir: config.data_dir.join("keys"),
                })
                .context("open the PKCS#11 token")?,
            )
        }
    };
    let store = Store::open(&StoreConfig {
        data_dir: config.data_dir.clone(),
        dangerous_skip_fsync: config.dangerous_skip_fsync,
        keys: Arc::clone(&keys) as Arc<dyn coffre_crypto::KeyProvider>,
        metadata_cache_bytes: config.metadata_cache_bytes,
        disk_reserve: config.disk_reserve,
    })
    .context("open the object engine")?;
    if coffre_crypto::sealed::DANGEROUS_BENCH_UNSEALED {
        tracing::warn!("benchmark-only build (dangerous-bench-unsealed): object data is NOT encrypted at rest");
    }
    if config.dangerous_skip_fsync {
        tracing::warn!("fsync is OFF (benchmark-only setting): acknowledged writes can be lost");
    }
    if config.lifecycle_day.is_shortened() {
        tracing::warn!(
            day_seconds = config.lifecycle_day.as_nanos() / 1_000_000_000,
            "TEST ONLY: the lifecycle day is shortened; lifecycle rules delete data days early"
        );
    }
    // Background work the server owns: each worker is started by the board, has a status
    // there (GET /admin/v1/workers) and stops on the board's token, after its current step.
    let workers = Arc::new(coffre_store::worker::WorkerBoard::default());
    store.start_garbage_collector(&workers);
    let metrics = PrometheusBuilder::new().install_recorder().context("install the metrics recorder")?;

    // Identities live in the metadata database; access key secrets are sealed by the key provider.
    let directory = Arc::new(
        coffre_iam::Directory::open(
            Arc::new(crate::adapters::MetaDirectoryStorage(Arc::clone(&store))),
            Arc::clone(&keys) as Arc<dyn coffre_crypto::KeyProvider>,
        )
        .context("open the identity directory")?,
    );
    directory.install_root(&root.access_key, &root.secret_key);
    directory.set_break_glass_cooldown_s(config.break_glass_cooldown_s).context("set the break-glass cool-down")?;
    // Authorisation's view of bucket settings, kept in step by the engine's commits.
    let bucket_access = BucketAccessCache::follow(&store);
    // The engine's permits are made by the authorisers only: the S3 access control, the admin
    // API and access-log delivery (the writes PutBucketLogging authorised).
    let permits = store.take_permit_issuer().context("the engine's permit issuer was already taken")?;
    let front_config = FrontConfig { region: config.region.clone(), lifecycle_day: config.lifecycle_day };
    let s3 = CoffreS3::new(Arc::clone(&store), front_config, Arc::clone(&bucket_access));
    let mut builder = S3ServiceBuilder::new(s3);
    let access =
        AccessControl::new(Arc::clone(&directory), Arc::clone(&store), Arc::clone(&bucket_access), permits.clone());
    builder.set_auth(access.clone());
    builder.set_access(access);
    if let Some(domain) = &config.domain {
        builder.set_host(coffre_s3::BucketDomain::new(domain));
    }
    let mut s3s_config = s3s::config::S3Config::default();
    // Documents reach s3s already read and bounded by the front (coffre_s3::config_body).
    s3s_config.xml_max_body_size = coffre_s3::config_body::CONFIG_BODY_BYTES_MAX;
    s3s_config.post_object_max_file_size = POST_OBJECT_BYTES_MAX;
    builder.set_config(Arc::new(s3s::config::StaticConfigProvider::new(Arc::new(s3s_config))));
    let signer: Arc<dyn coffre_audit::Signer> = Arc::clone(&local) as Arc<dyn coffre_audit::Signer>;
    // Server access logs (PutBucketLogging) are made from records once they are durable.
    let (access_log_tx, access_log_rx) = tokio::sync::mpsc::channel(ACCESS_LOG_QUEUE_RECORDS);
    let delivery = coffre_s3::access_log::Delivery {
        store: Arc::clone(&store),
        buckets: bucket_access,
        permits: permits.clone(),
        interval: config.access_log_flush_interval,
    };
    workers.spawn("access-log-delivery", |status, stop| delivery.run(access_log_rx, status, stop));
    let audit = if config.dangerous_skip_audit {
        tracing::warn!("the audit trail is OFF (benchmark-only setting): requests go unrecorded");
        None
    } else {
        let mut audit_config = coffre_audit::AuditConfig::new(config.data_dir.join("audit"));
        audit_config.retention = config.audit_retention;
        audit_config.checkpoint_interval = config.audit_checkpoint_interval;
        audit_config.dangerous_skip_fsync = config.dangerous_skip_fsync;
        let log = coffre_audit::AuditLog::open(audit_config, Arc::clone(&signer), Some(access_log_tx))
            .context("open the audit trail")?;
        // A request records within moments of its commit; an intent still there after several
        // checkpoint intervals belongs to a request that could not record.
        let orphan_after = config.audit_checkpoint_interval * 5;
        let sink =
            coffre_audit::AuditSink::new(log, Arc::new(crate::adapters::MetaIntents(Arc::clone(&store))), orphan_after);
        // Changes committed just before a crash get their records before anything is served.
        sink.sweep(true).await;
        Some(sink)
    };
    let front = Front::new(
        builder.build(),
        FrontLimits {
            region: config.region.clone(),
            domain: config.domain.clone(),
            body_idle_timeout: config.body_idle_timeout,
        },
        audit.clone(),
    );

    let (acceptor, scheme) = match &config.tls {
        TlsMode::Off => (None, "http"),
        TlsMode::Files { cert, key } => {
            (Some(tokio_rustls::TlsAcceptor::from(tls::server_config(cert, key)?)), "https")
        }
        TlsMode::SelfSigned => {
            let generated = tls::ensure_self_signed(&config.data_dir, config.domain.as_deref())?;
            say!("TLS: self-signed certificate; CA file for clients: {} (AWS_CA_BUNDLE)", generated.ca.display());
            (Some(tokio_rustls::TlsAcceptor::from(tls::server_config(&generated.cert, &generated.key)?)), "https")
        }
    };
    let signal = shutdown_signal()?;
    let fd_limit = crate::listener::raise_fd_limit();
    let s3_limits = crate::listener::ConnectionLimits {
        max_connections: config.max_connections.unwrap_or_else(|| crate::listener::default_max_connections(fd_limit)),
        first_byte_timeout: config.first_byte_timeout,
        header_timeout: config.header_timeout,
    };
    // The admin listener has slots of its own, outside the S3 listener's share of descriptors,
    // so that /health and operators still get in when S3 is saturated.
    let admin_limits = crate::listener::ConnectionLimits { max_connections: ADMIN_CONNECTIONS_MAX, ..s3_limits };
    tracing::info!(fd_limit, s3_max_connections = s3_limits.max_connections, "connection limits");
    let s3_listener =
        TcpListener::bind(config.s3_listen).await.with_context(|| format!("listen on {}", config.s3_listen))?;
    let admin_listener =
        TcpListener::bind(config.admin_listen).await.with_context(|| format!("listen on {}", config.admin_listen))?;
    if generated {
        say!("Root credentials generated (shown once, kept in {}/root-credentials.toml):", config.data_dir.display());
        say!("  AWS_ACCESS_KEY_ID={}", root.access_key);
        say!("  AWS_SECRET_ACCESS_KEY={}", root.secret_key);
    }
    say!(
        "Coffre serving S3 on {scheme}://{} and admin on http://{} (data: {})",
        s3_listener.local_addr()?,
        admin_listener.local_addr()?,
        config.data_dir.display()
    );

    workers.spawn("lifecycle", |status, stop| {
        coffre_s3::lifecycle_worker::LifecycleWorker {
            store: Arc::clone(&store),
            permits: permits.clone(),
            audit: audit.clone(),
            settings: coffre_s3::lifecycle_worker::LifecycleSettings::for_day(config.lifecycle_day),
            status,
            stop,
        }
        .run()
    });
    let admin_state = coffre_admin::AdminState {
        metrics,
        directory,
        keys,
        signer: local,
        store: Arc::clone(&store),
        permits,
        attestations_dir: config.data_dir.join("keys").join("attestations"),
        rewraps: Arc::default(),
        audit: audit.clone(),
        audit_signer: signer,
        workers: Arc::clone(&workers),
    };
    if let Some(sink) = audit.clone() {
        // Records the audit intents whose requests could not record (see coffre_store::intent).
        let interval = config.audit_checkpoint_interval;
        workers.spawn("audit-intent-sweeper", move |status, stop| async move {
            let mut tick = tokio::time::interval(interval);
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    _ = tick.tick() => {}
                }
                sink.sweep(false).await;
                status.update(|s| s.passes += 1);
            }
        });
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    let admin = {
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let app = coffre_admin::router(admin_state);
            let service = |peer: std::net::SocketAddr| {
                // Handlers read the peer (audit records' source IP) as axum's ConnectInfo.
                let app = app.clone().layer(axum::Extension(axum::extract::ConnectInfo(peer)));
                hyper_util::service::TowerToHyperService::new(app)
            };
            let graceful = GracefulShutdown::new();
            let stopped = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            crate::listener::serve("admin", admin_listener, None, admin_limits, &graceful, service, stopped).await;
            graceful.shutdown().await;
        })
    };

    let graceful = GracefulShutdown::new();
    let s3_service = |peer: std::net::SocketAddr| {
        let front = front.clone();
        let transport = coffre_s3::front::Transport { secure: acceptor.is_some(), peer: Some(peer.ip()) };
        hyper::service::service_fn(move |req| {
            let front = front.clone();
            async move { front.handle(req, transport).await }
        })
    };
    crate::listener::serve("s3", s3_listener, acceptor.clone(), s3_limits, &graceful, s3_service, signal).await;
    say!("Shutting down: no new connections; waiting for in-flight requests");
    let grace = Duration::from_secs(config.shutdown_grace_seconds);
    if tokio::time::timeout(grace, graceful.shutdown()).await.is_err() {
        tracing::warn!(seconds = grace.as_secs(), "in-flight requests did not finish within the grace period");
    }
    let _ = stop_tx.send(true);
    let _ = admin.await;
    // The last records become durable (and reach access-log delivery), then every worker
    // finishes its step: delivery writes what it holds, lifecycle ends its action.
    if let Some(sink) = &audit {
        sink.flush().await;
    }
    workers.join().await;
    if let Some(sink) = &audit {
        sink.sweep(false).await;
        // A final signed checkpoint covers every record of this run.
        sink.log.close();
    }
    drop(store);
    say!("Coffre stopped");
    Ok(())
}

/// Installs the SIGTERM/SIGINT handlers now (before the server says it is ready, so that a
/// signal sent right after can never hit the default action) and resolves on the first signal.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("install the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("install the SIGINT handler")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}
