//! KEKs in a PKCS#11 HSM (SoftHSM2, set up by the test itself): keys are non-extractable and
//! live only in the token; buckets keyed in the HSM survive rotate, disable (also across a
//! restart), enable and destroy; an unreachable HSM fails requests closed with 503 and service
//! recovers by itself when it returns.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use aws_sdk_s3::primitives::ByteStream;
use common::{Server, body, bucket, code, status};

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const PIN: &str = "4321";
const LABEL: &str = "coffre-test";

/// A fresh SoftHSM2 token in `dir`; returns the SOFTHSM2_CONF path.
fn softhsm_token(dir: &Path) -> PathBuf {
    let tokens = dir.join("tokens");
    std::fs::create_dir_all(&tokens).unwrap();
    let conf = dir.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!("directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n", tokens.display()),
    )
    .unwrap();
    let out = Command::new("softhsm2-util")
        .args(["--init-token", "--free", "--label", LABEL, "--pin", PIN, "--so-pin", "87654321"])
        .env("SOFTHSM2_CONF", &conf)
        .output()
        .expect("softhsm2-util is installed by scripts/install-test-deps.sh");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    conf
}

fn keys(server: &Server, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_coffre"))
        .arg("keys")
        .args(args)
        .args(["--admin-url", &format!("http://{}", server.admin_addr)])
        .env("COFFRE_ROOT_ACCESS_KEY", common::ACCESS_KEY)
        .env("COFFRE_ROOT_SECRET_KEY", common::SECRET_KEY)
        .output()
        .unwrap();
    assert!(out.status.success(), "coffre keys {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The KEK objects of `id` in the token, with their extractable and sensitive flags. The token
/// is read in a child process (this test binary, running `probe_kek_flags`), because SoftHSM
/// finds its configuration in the environment, which a test must not change in-process.
fn kek_flags(conf: &Path, id: &str) -> Vec<(bool, bool)> {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "probe_kek_flags", "--nocapture", "--test-threads=1"])
        .env("SOFTHSM2_CONF", conf)
        .env("COFFRE_TEST_KEK_PROBE", id)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.find("KEKFLAGS ").map(|at| &l[at + "KEKFLAGS ".len()..]))
        .unwrap_or_else(|| panic!("probe failed: {stdout}"));
    serde_json::from_str(line).unwrap()
}

/// Not a test of its own: the child-process half of [`kek_flags`].
#[test]
fn probe_kek_flags() {
    use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
    use cryptoki::object::{Attribute, AttributeType};
    use cryptoki::session::UserType;
    let Ok(id) = std::env::var("COFFRE_TEST_KEK_PROBE") else { return };
    let ctx = Pkcs11::new(MODULE).unwrap();
    ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)).unwrap();
    let slot = ctx
        .get_slots_with_token()
        .unwrap()
        .into_iter()
        .find(|s| ctx.get_token_info(*s).unwrap().label() == LABEL)
        .unwrap();
    let session = ctx.open_ro_session(slot).unwrap();
    session.login(UserType::User, Some(&PIN.to_owned().into())).unwrap();
    let mut flags = Vec::new();
    for h in session.find_objects(&[]).unwrap() {
        let attrs = session
            .get_attributes(h, &[AttributeType::Label, AttributeType::Extractable, AttributeType::Sensitive])
            .unwrap();
        let mut label = Vec::new();
        let (mut extractable, mut sensitive) = (true, false);
        for a in attrs {
            match a {
                Attribute::Label(l) => label = l,
                Attribute::Extractable(e) => extractable = e,
                Attribute::Sensitive(s) => sensitive = s,
                _ => {}
            }
        }
        if String::from_utf8_lossy(&label).starts_with(&format!("coffre:{id}:")) {
            flags.push((extractable, sensitive));
        }
    }
    println!("KEKFLAGS {}", serde_json::to_string(&flags).unwrap());
}

/// Goal: the whole HSM story, seen by S3 clients.
#[tokio::test]
async fn hsm_keys_fail_closed_and_recover() {
    let hsm = tempfile::tempdir().unwrap();
    let conf = softhsm_token(hsm.path());
    let conf_s = conf.to_str().unwrap().to_owned();
    let mut server = Server::start_with_env(
        &["--kms", "pkcs11", "--pkcs11-module", MODULE, "--pkcs11-token-label", LABEL],
        &[("SOFTHSM2_CONF", &conf_s), ("COFFRE_PKCS11_PIN", PIN)],
    );
    server.allowed_log = vec!["key provider unavailable".into()];
    keys(&server, &["create", "hsm-a"]);
    let listed = keys(&server, &["list"]);
    assert!(listed.lines().any(|l| l.starts_with("hsm-a") && l.contains("pkcs11")), "{listed}");
    let c = server.client().await;
    let b = bucket("hsm");
    c.create_bucket().bucket(&b).send().await.unwrap();
    common::use_key_by_default(&c, &b, "hsm-a").await;
    let d = common::data(300_000, 9);
    c.put_object().bucket(&b).key("big").body(ByteStream::from(d.clone())).send().await.unwrap();
    c.put_object().bucket(&b).key("small").body(ByteStream::from_static(b"hsm inline")).send().await.unwrap();
    assert_eq!(body(c.get_object().bucket(&b).key("big").send().await.unwrap()).await, d);

    // The KEK lives in the token, non-extractable and sensitive.
    let flags = kek_flags(&conf, "hsm-a");
    assert_eq!(flags, vec![(false, true)], "one non-extractable, sensitive KEK in the HSM");

    // Rotate: a second non-extractable version; objects stay readable.
    keys(&server, &["rotate", "hsm-a"]);
    assert_eq!(kek_flags(&conf, "hsm-a").len(), 2);
    assert_eq!(body(c.get_object().bucket(&b).key("small").send().await.unwrap()).await, b"hsm inline");

    // Disable: fail closed, also after a restart; enable brings it back.
    keys(&server, &["disable", "hsm-a"]);
    let e = c.get_object().bucket(&b).key("big").send().await.unwrap_err();
    assert_eq!(code(&e), "KMS.DisabledException");
    server.restart();
    let c = server.client().await;
    let e = c.get_object().bucket(&b).key("big").send().await.unwrap_err();
    assert_eq!(code(&e), "KMS.DisabledException");
    keys(&server, &["enable", "hsm-a"]);
    assert_eq!(body(c.get_object().bucket(&b).key("big").send().await.unwrap()).await, d);

    // The HSM becomes unreachable: 503, nothing served, nothing stored; then it comes back.
    let token_dir = std::fs::read_dir(hsm.path().join("tokens")).unwrap().next().unwrap().unwrap().path();
    let away = hsm.path().join("away");
    std::fs::rename(&token_dir, &away).unwrap();
    let e = c.get_object().bucket(&b).key("big").send().await.unwrap_err();
    assert_eq!((code(&e).as_str(), status(&e)), ("ServiceUnavailable", 503));
    let e = c.put_object().bucket(&b).key("during").body(ByteStream::from_static(b"x")).send().await.unwrap_err();
    assert_eq!(status(&e), 503);
    std::fs::rename(&away, &token_dir).unwrap();
    assert_eq!(body(c.get_object().bucket(&b).key("big").send().await.unwrap()).await, d, "recovers by itself");
    assert_eq!(status(&c.head_object().bucket(&b).key("during").send().await.unwrap_err()), 404);

    // Destroy: the keys are erased from the token; the objects are unreadable forever.
    let attestation = keys(&server, &["destroy", "hsm-a", "--yes"]);
    assert!(attestation.contains("\"objects_affected\": 2"), "{attestation}");
    assert!(kek_flags(&conf, "hsm-a").is_empty(), "no KEK of a destroyed key is left in the HSM");
    let e = c.get_object().bucket(&b).key("big").send().await.unwrap_err();
    assert_eq!(code(&e), "KMS.KMSInvalidStateException");
}
