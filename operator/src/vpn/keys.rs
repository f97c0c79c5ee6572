//! WireGuard keys: x25519 pairs in WireGuard's base64 text form.
//!
//! A private key lives only in memory that is wiped on drop
//! ([`Zeroizing`]), in the Secrets of the operator's namespace, in the hub's
//! configuration Secret (the gateway's own key) and on the router it belongs
//! to. Its `Debug` form is redacted, so no log line can carry it.

use std::fmt;

use base64::{Engine, engine::general_purpose::STANDARD};
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

/// A WireGuard key pair.
#[derive(Clone)]
pub struct KeyPair {
    private: Zeroizing<String>,
    public: String,
}

/// A stored private key that is not 32 bytes of base64.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the stored WireGuard private key is not 32 bytes of base64")]
pub struct InvalidKey;

impl KeyPair {
    /// A new key pair from the operating system's random source, clamped as
    /// `wg genkey` clamps it.
    pub fn generate() -> Self {
        let secret = StaticSecret::random();
        let bytes = Zeroizing::new(secret.to_bytes());
        Self::from_bytes(*bytes)
    }

    /// The pair of a stored private key (base64, as `wg genkey` prints it).
    pub fn from_private(text: &str) -> Result<Self, InvalidKey> {
        let decoded = Zeroizing::new(STANDARD.decode(text.trim()).map_err(|_| InvalidKey)?);
        let bytes: [u8; 32] = decoded.as_slice().try_into().map_err(|_| InvalidKey)?;
        Ok(Self::from_bytes(bytes))
    }

    fn from_bytes(mut bytes: [u8; 32]) -> Self {
        // Curve25519 clamping, as `wg genkey` does: the same scalar either way,
        // but the stored text then matches what wireguard-tools would print.
        bytes[0] &= 0b1111_1000;
        bytes[31] &= 0b0111_1111;
        bytes[31] |= 0b0100_0000;
        let secret = StaticSecret::from(bytes);
        let public = STANDARD.encode(PublicKey::from(&secret).as_bytes());
        let private = Zeroizing::new(STANDARD.encode(bytes));
        zeroize::Zeroize::zeroize(&mut bytes);
        Self { private, public }
    }

    /// The private key, base64. Only for Secrets and the router push.
    pub fn private_key(&self) -> &str {
        &self.private
    }

    /// The public key, base64: what status and peers show.
    pub fn public_key(&self) -> &str {
        &self.public
    }
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPair")
            .field("public", &self.public)
            .field("private", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_rfc_7748_test_vector() {
        // RFC 7748 section 6.1, Alice's key pair.
        let private = hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
        let public = hex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
        let pair = KeyPair::from_private(&STANDARD.encode(private)).unwrap();
        assert_eq!(pair.public_key(), STANDARD.encode(public));
    }

    #[test]
    fn generated_pairs_are_distinct_and_reload_to_themselves() {
        let a = KeyPair::generate();
        let b = KeyPair::generate();
        assert_ne!(a.private_key(), b.private_key());
        let again = KeyPair::from_private(a.private_key()).unwrap();
        assert_eq!(again.public_key(), a.public_key());
        assert_eq!(again.private_key(), a.private_key());
        assert!(!format!("{a:?}").contains(a.private_key()));
        assert!(KeyPair::from_private("not base64!").is_err());
        assert!(KeyPair::from_private(&STANDARD.encode([1_u8; 31])).is_err());
    }

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }
}
