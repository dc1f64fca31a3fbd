//! The admin listener: `/health` (200 once the server serves) and `/metrics` (Prometheus).
//! The admin REST API comes with the identity issue; it will live here, on its own listener.

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;

/// The admin routes.
pub fn router(metrics: PrometheusHandle) -> Router {
    Router::new().route("/health", get(|| async { "ok\n" })).route("/metrics", get(render_metrics)).with_state(metrics)
}

async fn render_metrics(State(handle): State<PrometheusHandle>) -> String {
    handle.render()
}
