//! `probe URL`: one HTTP GET with a deadline, for the chart's `helm test` hook. The image has
//! no shell and no curl (it carries only this binary), so the binary checks its own sibling's
//! `/readyz` itself.

use std::time::Duration;

/// What one probe saw: the status line on success, a sentence a person can act on otherwise.
pub async fn probe(url: &str, timeout: Duration) -> Result<String, String> {
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|e| format!("GET {url}: {}", causes(&e)))?;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    let body = body.trim();
    let seen = format!(
        "GET {url}: {status} {}",
        body.chars().take(200).collect::<String>()
    );
    if status.is_success() {
        Ok(seen)
    } else {
        Err(seen)
    }
}

/// An error and its causes on one line: reqwest's own message ("error sending request") hides
/// whether the name did not resolve or the connection was refused.
fn causes(e: &dyn std::error::Error) -> String {
    let mut line = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        line.push_str(": ");
        line.push_str(&cause.to_string());
        source = cause.source();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-shot HTTP/1.1 server answering every request with `status`.
    async fn serve(status: &'static str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut buf = [0u8; 1024];
                let _ = socket.read(&mut buf).await;
                let body = "ok";
                let reply = format!(
                    "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(reply.as_bytes()).await;
            }
        });
        format!("http://{addr}/readyz")
    }

    #[tokio::test]
    async fn success_is_a_2xx_and_anything_else_is_a_failure_that_says_what_it_saw() {
        let ok = probe(&serve("200 OK").await, Duration::from_secs(5)).await;
        assert!(ok.as_ref().is_ok_and(|s| s.contains("200 OK")), "{ok:?}");
        let down = probe(
            &serve("503 Service Unavailable").await,
            Duration::from_secs(5),
        )
        .await;
        assert!(down.as_ref().is_err_and(|s| s.contains("503")), "{down:?}");
        // Nothing listens on a port we just released.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let refused = probe(
            &format!("http://127.0.0.1:{port}/readyz"),
            Duration::from_secs(5),
        )
        .await;
        assert!(refused.is_err(), "{refused:?}");
    }
}
