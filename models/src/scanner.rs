//! The scanner service (its own hosts, one or more per region) and the
//! protocol the queue uses to reach it: one framed request with the raw
//! message, one framed verdict. Scanning is asynchronous: the queue asks,
//! and a message without a verdict simply waits.

use std::rc::Rc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use traces::{EventKind, Verdict};

use crate::config::{GatewayConfig, SCANNER_PORT};
use crate::env::{self, BoxConn, SharedEnv};
use crate::frame::{read_frame, write_frame};
use crate::mime::verdict;

#[derive(Serialize, Deserialize, Debug)]
pub struct ScanRequest {
    pub spool_id: String,
    pub message_id: String,
}

#[derive(Serialize, Deserialize, Debug)]
pub struct ScanReply {
    pub verdict: Verdict,
    pub reason: String,
}

/// Runs a scanner host until it is killed.
pub async fn run(env: SharedEnv, config: Rc<GatewayConfig>) {
    let listener = match env.listen(SCANNER_PORT).await {
        Ok(listener) => listener,
        Err(e) => {
            env.observe(EventKind::GwNote {
                what: "scanner_listen_failed".into(),
                detail: e.to_string(),
            });
            return;
        }
    };
    loop {
        let Ok((conn, _peer)) = listener.accept().await else {
            continue;
        };
        let env2 = env.clone();
        let config = config.clone();
        env.spawn(Box::pin(async move {
            let _ = serve_one(&env2, &config, conn).await;
        }));
    }
}

async fn serve_one(
    env: &SharedEnv,
    config: &GatewayConfig,
    mut conn: BoxConn,
) -> std::io::Result<()> {
    let deadline = Duration::from_millis(config.knobs.scan_timeout_ms);
    let (request, raw): (ScanRequest, Vec<u8>) = env::timeout(
        env.as_ref(),
        deadline,
        read_frame(&mut conn, config.knobs.copy_bytes_max()),
    )
    .await??;
    let report = verdict::scan_with(
        &raw,
        verdict::ScanBugs {
            skip_base64_attachments: config.bug("scanner-skips-encoded-attachments"),
            signature_typo: config.bug("scanner-signature-typo"),
        },
    );
    if env.buggify("scanner.slow_scan") {
        // As slow as the asker's patience: its answer may arrive too late.
        env.sleep(deadline).await;
    }
    tracing::debug!(msg = %request.message_id, verdict = ?report.verdict, reason = %report.reason, "scanned");
    env.observe(EventKind::ScanVerdict {
        msg: request.message_id.clone(),
        verdict: report.verdict,
        input_sha256: traces::sha256_hex(&raw),
    });
    write_frame(
        &mut conn,
        &ScanReply {
            verdict: report.verdict,
            reason: report.reason,
        },
        &[],
    )
    .await
}

/// Asks one scanner for a verdict, within the scan timeout.
pub async fn ask(
    env: &SharedEnv,
    config: &GatewayConfig,
    scanner_host: &str,
    request: &ScanRequest,
    raw: &[u8],
) -> std::io::Result<ScanReply> {
    let exchange = async {
        let mut conn = env.connect(scanner_host, SCANNER_PORT).await?;
        write_frame(&mut conn, request, raw).await?;
        let (reply, _): (ScanReply, Vec<u8>) = read_frame(&mut conn, 0).await?;
        Ok::<_, std::io::Error>(reply)
    };
    env::timeout(
        env.as_ref(),
        Duration::from_millis(config.knobs.scan_timeout_ms),
        exchange,
    )
    .await?
}
