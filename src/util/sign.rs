//! Ed25519 signatures over JSON documents (deletion certificates): the signed bytes are the certificate as canonical
//! JSON (object keys sorted, no spaces), so a verifier re-derives them from the file alone.

use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signer as _, SigningKey, Verifier as _, VerifyingKey};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use std::path::Path;

/// The only algorithm lethe signs with.
pub const ALGORITHM: &str = "ed25519";

/// Key files larger than this are refused (a PEM key is a few hundred bytes).
const MAX_KEY_BYTES: u64 = 64 * 1024;

/// A signature as a certificate file carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signature {
    /// Always `ed25519`.
    pub algorithm: String,
    /// The signer's public key, 32 bytes in hex.
    pub public_key: String,
    /// The signature over the canonical JSON of the certificate, 64 bytes in hex.
    pub value: String,
}

/// Why a key could not be read or a signature did not verify.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The key file could not be read.
    #[error("cannot read key file `{path}`: {why}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        why: String,
    },
    /// The key file holds no Ed25519 key in the expected form.
    #[error("key file `{path}` holds no Ed25519 {what} in PEM form; {hint}")]
    Format {
        /// The file.
        path: String,
        /// `private key (PKCS#8)` or `public key`.
        what: &'static str,
        /// How to make one.
        hint: &'static str,
    },
    /// The key could not be written as PEM.
    #[error("cannot encode the key: {0}")]
    Encode(String),
    /// The signature does not match.
    #[error("{0}")]
    Invalid(String),
}

const PRIVATE_HINT: &str =
    "make one with `openssl genpkey -algorithm ed25519 -out signing.pem` or `lethe demo`";
const PUBLIC_HINT: &str =
    "the signer gives it with `lethe certificate public-key` (or `openssl pkey -in signing.pem -pubout`)";

/// The signing key of a lethe installation.
pub struct Signer {
    key: SigningKey,
}

impl Signer {
    /// Reads a PKCS#8 PEM private key (`-----BEGIN PRIVATE KEY-----`, as `openssl genpkey
    /// -algorithm ed25519` writes it).
    pub fn from_file(path: &Path) -> Result<Signer, SignError> {
        let text = read_text(path)?;
        let key = SigningKey::from_pkcs8_pem(text.trim()).map_err(|_| SignError::Format {
            path: path.display().to_string(),
            what: "private key (PKCS#8)",
            hint: PRIVATE_HINT,
        })?;
        Ok(Signer { key })
    }

    /// A new random key.
    pub fn generate() -> Result<Signer, SignError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| SignError::Encode(e.to_string()))?;
        Ok(Signer {
            key: SigningKey::from_bytes(&seed),
        })
    }

    /// The private key as PKCS#8 PEM, for a key file.
    pub fn private_pem(&self) -> Result<String, SignError> {
        self.key
            .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
            .map(|p| p.to_string())
            .map_err(|e| SignError::Encode(e.to_string()))
    }

    /// The public key as SubjectPublicKeyInfo PEM, to hand to whoever verifies.
    pub fn public_pem(&self) -> Result<String, SignError> {
        public_pem(&self.key.verifying_key())
    }

    /// The public key in hex.
    pub fn public_hex(&self) -> String {
        hex::encode(self.key.verifying_key().to_bytes())
    }

    /// Signs a certificate (any JSON value) and returns its signature.
    pub fn sign(&self, certificate: &Json) -> Signature {
        let sig = self.key.sign(canonical(certificate).as_bytes());
        Signature {
            algorithm: ALGORITHM.into(),
            public_key: self.public_hex(),
            value: hex::encode(sig.to_bytes()),
        }
    }

    /// The public key, for verifying.
    pub fn verifying(&self) -> VerifyingKey {
        self.key.verifying_key()
    }
}

/// A public key as SubjectPublicKeyInfo PEM.
pub fn public_pem(key: &VerifyingKey) -> Result<String, SignError> {
    key.to_public_key_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
        .map_err(|e| SignError::Encode(e.to_string()))
}

/// Reads a public key file (`-----BEGIN PUBLIC KEY-----`).
pub fn read_public(path: &Path) -> Result<VerifyingKey, SignError> {
    let text = read_text(path)?;
    VerifyingKey::from_public_key_pem(text.trim()).map_err(|_| SignError::Format {
        path: path.display().to_string(),
        what: "public key",
        hint: PUBLIC_HINT,
    })
}

fn read_text(path: &Path) -> Result<String, SignError> {
    let err = |why: String| SignError::Read {
        path: path.display().to_string(),
        why,
    };
    let bytes = crate::util::read_regular(path, MAX_KEY_BYTES).map_err(|e| err(e.to_string()))?;
    String::from_utf8(bytes).map_err(|_| err("it is not text".into()))
}

/// Checks `signature` over `certificate` against the trusted public key.
pub fn verify(
    certificate: &Json,
    signature: &Signature,
    trusted: &VerifyingKey,
) -> Result<(), SignError> {
    if signature.algorithm != ALGORITHM {
        return Err(SignError::Invalid(format!(
            "the signature's algorithm is `{}`; lethe signs with `{ALGORITHM}`",
            crate::util::shorten(&signature.algorithm)
        )));
    }
    let trusted_hex = hex::encode(trusted.to_bytes());
    if signature.public_key != trusted_hex {
        return Err(SignError::Invalid(format!(
            "signed with key {}, not with the trusted key {}",
            short_key(&signature.public_key),
            short_key(&trusted_hex)
        )));
    }
    let bytes: [u8; 64] = hex::decode(&signature.value)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| SignError::Invalid("the signature is not 64 bytes in hex".into()))?;
    trusted
        .verify(
            canonical(certificate).as_bytes(),
            &ed25519_dalek::Signature::from_bytes(&bytes),
        )
        .map_err(|_| {
            SignError::Invalid(
                "the signature does not match the certificate: it was altered after signing".into(),
            )
        })
}

/// The first 16 hex digits of a key, for messages.
pub fn short_key(hex: &str) -> String {
    crate::util::shorten(hex).chars().take(16).collect()
}

/// JSON with every object's keys sorted and no whitespace: the same bytes for the same value,
/// whatever order a file or a map wrote them in.
pub fn canonical(value: &Json) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Json, out: &mut String) {
    match value {
        Json::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Json::String(k.clone()).to_string());
                out.push(':');
                if let Some(v) = map.get(k) {
                    write_canonical(v, out);
                }
            }
            out.push('}');
        }
        Json::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_verifies_and_refuses_changes() {
        let signer = Signer::generate().unwrap();
        let cert = serde_json::json!({"b": 1, "a": {"z": [1, "x"], "y": null}});
        let sig = signer.sign(&cert);
        verify(&cert, &sig, &signer.verifying()).unwrap();
        // Key order does not matter; content does.
        let reordered: Json =
            serde_json::from_str(r#"{"a":{"y":null,"z":[1,"x"]},"b":1}"#).unwrap();
        verify(&reordered, &sig, &signer.verifying()).unwrap();
        let changed = serde_json::json!({"b": 2, "a": {"z": [1, "x"], "y": null}});
        assert!(verify(&changed, &sig, &signer.verifying()).is_err());
        let other = Signer::generate().unwrap();
        let e = verify(&cert, &sig, &other.verifying()).unwrap_err();
        assert!(e.to_string().contains("not with the trusted key"), "{e}");
    }

    #[test]
    fn keys_round_trip_through_pem() {
        let dir = tempfile::tempdir().unwrap();
        let signer = Signer::generate().unwrap();
        let private = dir.path().join("signing.pem");
        std::fs::write(&private, signer.private_pem().unwrap()).unwrap();
        let public = dir.path().join("public.pem");
        std::fs::write(&public, signer.public_pem().unwrap()).unwrap();
        let again = Signer::from_file(&private).unwrap();
        assert_eq!(again.public_hex(), signer.public_hex());
        assert_eq!(read_public(&public).unwrap(), signer.verifying());
        let e = Signer::from_file(&public).err().unwrap();
        assert!(e.to_string().contains("openssl genpkey"), "{e}");
    }
}
