//! Standard Webhooks signatures: `webhook-signature: v1,<base64 HMAC-SHA256 of
//! "id.timestamp.body">`, keyed with the bytes behind `whsec_<base64>`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::domain::ids::random_bytes;

/// A signing secret: `whsec_` + base64 of the HMAC key bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(Vec<u8>);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

impl WebhookSecret {
    pub const PREFIX: &'static str = "whsec_";

    pub fn generate() -> Self {
        WebhookSecret(random_bytes::<32>().to_vec())
    }

    pub fn parse(text: &str) -> Option<Self> {
        let bytes = STANDARD.decode(text.strip_prefix(Self::PREFIX)?).ok()?;
        (bytes.len() >= 16).then_some(WebhookSecret(bytes))
    }

    /// The `whsec_…` form, shown once to the operator and stored.
    pub fn expose(&self) -> String {
        format!("{}{}", Self::PREFIX, STANDARD.encode(&self.0))
    }

    /// `v1,<base64 signature>` of one message.
    pub fn sign(&self, id: &str, timestamp: i64, body: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key size");
        mac.update(format!("{id}.{timestamp}.").as_bytes());
        mac.update(body.as_bytes());
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

/// The `webhook-signature` header: one `v1,…` per secret, space separated.
pub fn signature_header(
    secrets: &[&WebhookSecret],
    id: &str,
    timestamp: i64,
    body: &str,
) -> String {
    secrets
        .iter()
        .map(|s| s.sign(id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Why a received webhook does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("timestamp outside the tolerance")]
    StaleTimestamp,
    #[error("no signature matches")]
    BadSignature,
}

/// What a receiver does: check the timestamp is within `tolerance_secs` of `now` and that
/// one of the header's signatures is ours (compared in constant time).
pub fn verify(
    secret: &WebhookSecret,
    id: &str,
    timestamp: i64,
    body: &str,
    header: &str,
    now: i64,
    tolerance_secs: i64,
) -> Result<(), VerifyError> {
    if (now - timestamp).abs() > tolerance_secs {
        return Err(VerifyError::StaleTimestamp);
    }
    let expected = secret.sign(id, timestamp, body);
    let ok = header.split_whitespace().any(|candidate| {
        use subtle::ConstantTimeEq;
        candidate.len() == expected.len()
            && bool::from(candidate.as_bytes().ct_eq(expected.as_bytes()))
    });
    if ok {
        Ok(())
    } else {
        Err(VerifyError::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fixed vector, so operators can check their verifier (also in the README).
    #[test]
    fn known_vector() {
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let sig = secret.sign(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    /// The README's table, row by row.
    #[test]
    fn readme_vectors() {
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let (id, ts) = ("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330);
        let header = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
        let body = r#"{"test": 2432232314}"#;
        assert!(verify(&secret, id, ts, body, header, ts, 300).is_ok());
        assert_eq!(
            verify(&secret, id, ts, r#"{"test": 2432232315}"#, header, ts, 300),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(
            verify(&WebhookSecret::generate(), id, ts, body, header, ts, 300),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(
            verify(&secret, id, ts, body, header, 1614269330, 300),
            Err(VerifyError::StaleTimestamp)
        );
    }

    #[test]
    fn verification_catches_tampering_wrong_secrets_and_stale_times() {
        let secret = WebhookSecret::generate();
        let other = WebhookSecret::generate();
        let body = r#"{"type":"verification.completed"}"#;
        let header = signature_header(&[&other, &secret], "evt_1", 1000, body);
        assert!(verify(&secret, "evt_1", 1000, body, &header, 1010, 300).is_ok());
        assert_eq!(
            verify(&secret, "evt_1", 1000, "{}", &header, 1010, 300),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(
            verify(
                &WebhookSecret::generate(),
                "evt_1",
                1000,
                body,
                &header,
                1010,
                300
            ),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(
            verify(&secret, "evt_1", 1000, body, &header, 5000, 300),
            Err(VerifyError::StaleTimestamp)
        );
    }

    #[test]
    fn secrets_round_trip_and_are_redacted() {
        let s = WebhookSecret::generate();
        assert!(s.expose().starts_with("whsec_"));
        assert_eq!(WebhookSecret::parse(&s.expose()), Some(s.clone()));
        assert!(!format!("{s:?}").contains(&s.expose()[6..]));
        assert!(WebhookSecret::parse("whsec_c2hvcnQ=").is_none());
        assert!(WebhookSecret::parse("nope").is_none());
    }
}
