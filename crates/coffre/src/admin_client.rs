//! The admin API client shared by `coffre admin` and `coffre keys`: finds credentials, buys a
//! short-lived bearer token with them and sends JSON requests.

use std::path::PathBuf;

use anyhow::{Context, bail};
use base64::Engine as _;
use serde_json::Value;

/// Lifetime of the token a CLI invocation buys for itself.
const CLI_TOKEN_TTL_S: i64 = 300;

/// How to reach and authenticate to the admin API.
#[derive(Debug, clap::Args)]
pub struct ConnectArgs {
    /// Admin listener of the server.
    #[arg(long, env = "COFFRE_ADMIN_URL", default_value = "http://127.0.0.1:9001", global = true)]
    pub admin_url: String,
    /// A bearer token (from `coffre admin login`).
    #[arg(long, env = "COFFRE_ADMIN_TOKEN", global = true, hide_env_values = true)]
    pub token: Option<String>,
    /// Access key to authenticate with (else the root credentials).
    #[arg(long, env = "COFFRE_ADMIN_ACCESS_KEY", global = true)]
    pub access_key: Option<String>,
    /// Secret of `--access-key`.
    #[arg(long, env = "COFFRE_ADMIN_SECRET_KEY", global = true, hide_env_values = true)]
    pub secret_key: Option<String>,
    /// Data directory to read the root credentials from when nothing else is given.
    #[arg(long, env = "COFFRE_DATA_DIR", default_value = "coffre-data", global = true)]
    pub data_dir: PathBuf,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
}

impl ConnectArgs {
    /// The access key and secret to buy a token with: flags/env, else the root credentials.
    fn credentials(&self) -> anyhow::Result<(String, String)> {
        if let (Some(a), Some(s)) = (&self.access_key, &self.secret_key) {
            return Ok((a.clone(), s.clone()));
        }
        if let (Ok(a), Ok(s)) = (std::env::var("COFFRE_ROOT_ACCESS_KEY"), std::env::var("COFFRE_ROOT_SECRET_KEY")) {
            return Ok((a, s));
        }
        let path = self.data_dir.join("root-credentials.toml");
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!("no --token, no --access-key/--secret-key, no COFFRE_ROOT_* and cannot read {}", path.display())
        })?;
        let c: crate::credentials::RootCredentials = toml::from_str(&text)?;
        Ok((c.access_key, c.secret_key))
    }
}

/// A client holding a bearer token.
pub struct AdminClient {
    http: reqwest::Client,
    base: String,
    token: String,
}

/// Answer of an API call: its JSON (or `null` for an empty answer).
async fn answer(response: reqwest::Response) -> anyhow::Result<Value> {
    let status = response.status();
    let text = response.text().await?;
    let value: Value =
        if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
    if !status.is_success() {
        let message =
            value.get("error").and_then(Value::as_str).map(str::to_owned).unwrap_or_else(|| value.to_string());
        bail!("{status}: {message}");
    }
    Ok(value)
}

impl AdminClient {
    /// Buys a token with access key credentials: `scopes` (default: all the identity may hold).
    pub async fn login(args: &ConnectArgs, scopes: &[String], ttl_s: i64) -> anyhow::Result<Value> {
        let (access, secret) = args.credentials()?;
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{access}:{secret}"));
        let mut body = serde_json::json!({ "ttl_seconds": ttl_s });
        if !scopes.is_empty() {
            body["scopes"] = serde_json::json!(scopes);
        }
        let response = reqwest::Client::new()
            .post(format!("{}/admin/v1/tokens", args.admin_url.trim_end_matches('/')))
            .header("authorization", format!("Basic {basic}"))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .context("reach the admin listener")?;
        answer(response).await
    }

    /// A client with the given token, or one bought with the credentials.
    pub async fn connect(args: &ConnectArgs) -> anyhow::Result<AdminClient> {
        let token = match &args.token {
            Some(t) => t.clone(),
            None => {
                let login = AdminClient::login(args, &[], CLI_TOKEN_TTL_S).await?;
                login["token"].as_str().context("the token answer has no token")?.to_owned()
            }
        };
        Ok(AdminClient { http: reqwest::Client::new(), base: args.admin_url.trim_end_matches('/').to_owned(), token })
    }

    /// Sends one request; a JSON body for `Some`.
    pub async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        self.send(method, path, body.map(|b| b.to_string())).await
    }

    /// Sends one request with a raw body (a policy document, as given).
    pub async fn send(&self, method: reqwest::Method, path: &str, body: Option<String>) -> anyhow::Result<Value> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("authorization", format!("Bearer {}", self.token));
        if let Some(b) = body {
            request = request.header("content-type", "application/json").body(b);
        }
        answer(request.send().await.context("reach the admin listener")?).await
    }
}

/// Prints rows of JSON objects as an aligned table of `columns` (header, field).
pub fn print_table(rows: &[Value], columns: &[(&str, &str)]) {
    let cell = |row: &Value, field: &str| -> String {
        match row.pointer(field).or_else(|| row.get(field)) {
            None | Some(Value::Null) => "-".to_owned(),
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        }
    };
    let widths: Vec<usize> = columns
        .iter()
        .map(|(h, f)| rows.iter().map(|r| cell(r, f).len()).chain([h.len()]).max().unwrap_or(0))
        .collect();
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(columns.iter().map(|(h, _)| (*h).to_owned()).collect());
    for r in rows {
        line(columns.iter().map(|(_, f)| cell(r, f)).collect());
    }
}
