//! The little of S3 the test environment speaks itself: its keys, and the
//! CreateBucket request that makes Velero's bucket (signed with AWS
//! Signature Version 4, as versitygw checks every request).
//!
//! A directory alone is not a bucket for versitygw's posix backend: a
//! bucket's owner and ACL live in extended attributes of its directory,
//! which only CreateBucket writes; requests on a bare directory fail
//! ("get bucket acl: no such key").

use std::{
    fmt::Write as _,
    io::{Read as _, Write as _},
    net::TcpStream,
    time::Duration,
};

use anyhow::{Context, Result, bail};
use k8s_openapi::jiff::Timestamp;
use ring::{digest, hmac, rand::SecureRandom as _};

/// The region Velero's storage location names (versitygw's default).
pub const REGION: &str = "us-east-1";

/// An access key pair of the S3 store.
pub struct Keys {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

impl Keys {
    /// A fresh random pair, shaped like AWS's: a 20-character key id and a
    /// 40-character secret (letters and digits only, so that no file
    /// format needs quoting).
    pub fn generate() -> Result<Self> {
        Ok(Self {
            access_key_id: random_string(20, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")?,
            secret_access_key: random_string(
                40,
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
            )?,
        })
    }

    /// The AWS shared credentials file (`~/.aws/credentials` format), as
    /// Velero's AWS plugin reads it.
    pub fn credentials_file(&self) -> String {
        format!(
            "[default]\naws_access_key_id={}\naws_secret_access_key={}\n",
            self.access_key_id, self.secret_access_key
        )
    }
}

/// Uniform over `alphabet` (rejection sampling: no modulo bias).
fn random_string(len: usize, alphabet: &[u8]) -> Result<String> {
    let rng = ring::rand::SystemRandom::new();
    let limit = 256 - 256 % alphabet.len();
    let mut out = String::with_capacity(len);
    while out.len() < len {
        let mut bytes = [0_u8; 64];
        rng.fill(&mut bytes)
            .map_err(|_| anyhow::anyhow!("no randomness from the system"))?;
        for byte in bytes {
            if usize::from(byte) < limit && out.len() < len {
                out.push(char::from(alphabet[usize::from(byte) % alphabet.len()]));
            }
        }
    }
    Ok(out)
}

/// `PUT /<bucket>` on the S3 server at `127.0.0.1:port`. A bucket that
/// already exists and is ours is fine.
pub fn create_bucket(port: u16, bucket: &str, keys: &Keys) -> Result<()> {
    let host = format!("127.0.0.1:{port}");
    let path = format!("/{bucket}");
    let now = Timestamp::now();
    let authorization = authorization("PUT", &path, "", &host, now, keys);
    let request = format!(
        "PUT {path} HTTP/1.1\r\nhost: {host}\r\nx-amz-date: {}\r\n\
         x-amz-content-sha256: {EMPTY_SHA256}\r\nauthorization: {authorization}\r\n\
         content-length: 0\r\nconnection: close\r\n\r\n",
        now.strftime("%Y%m%dT%H%M%SZ"),
    );
    let mut stream = TcpStream::connect(&host).with_context(|| format!("connecting to {host}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.write_all(request.as_bytes())?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .context("reading the S3 server's answer to CreateBucket")?;
    let status = response.split_whitespace().nth(1).unwrap_or_default();
    if status == "200" || response.contains("BucketAlreadyOwnedByYou") {
        return Ok(());
    }
    bail!("CreateBucket {bucket} on {host} answered:\n{response}");
}

/// SHA-256 of an empty body, hex.
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// The `Authorization` header of an S3 request with an empty body, signed
/// with Signature Version 4 over `host`, `x-amz-content-sha256` and
/// `x-amz-date`. `query` is canonical already (sorted, encoded).
fn authorization(
    method: &str,
    path: &str,
    query: &str,
    host: &str,
    at: Timestamp,
    keys: &Keys,
) -> String {
    let amz_date = at.strftime("%Y%m%dT%H%M%SZ").to_string();
    let date = at.strftime("%Y%m%d").to_string();
    let signed_headers = "host;x-amz-content-sha256;x-amz-date";
    let canonical_request = format!(
        "{method}\n{path}\n{query}\nhost:{host}\nx-amz-content-sha256:{EMPTY_SHA256}\n\
         x-amz-date:{amz_date}\n\n{signed_headers}\n{EMPTY_SHA256}"
    );
    let scope = format!("{date}/{REGION}/s3/aws4_request");
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex(digest::digest(&digest::SHA256, canonical_request.as_bytes()).as_ref())
    );
    let mut key = format!("AWS4{}", keys.secret_access_key).into_bytes();
    for part in [date.as_str(), REGION, "s3", "aws4_request"] {
        key = hmac_sha256(&key, part.as_bytes());
    }
    let signature = hex(&hmac_sha256(&key, string_to_sign.as_bytes()));
    format!(
        "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, \
         Signature={signature}",
        keys.access_key_id
    )
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data)
        .as_ref()
        .to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut out, byte| {
        let _ = write!(out, "{byte:02x}");
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The signing-key derivation against AWS's published vector ("Examples
    /// of how to derive a signing key for Signature Version 4": the example
    /// secret, 20120215, us-east-1, service iam).
    #[test]
    fn signing_key_matches_aws_example() {
        let mut key = b"AWS4wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".to_vec();
        for part in ["20120215", "us-east-1", "iam", "aws4_request"] {
            key = hmac_sha256(&key, part.as_bytes());
        }
        assert_eq!(
            hex(&key),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }

    /// AWS's "GET Bucket Lifecycle" example of Signature Version 4 for S3
    /// (the one of its examples with no header besides those signed here;
    /// its secret has a `/` where the signing-key example has a `+`).
    #[test]
    fn signature_matches_aws_example() {
        let keys = Keys {
            access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
        };
        let at: Timestamp = "2013-05-24T00:00:00Z".parse().unwrap();
        assert_eq!(
            authorization(
                "GET",
                "/",
                "lifecycle=",
                "examplebucket.s3.amazonaws.com",
                at,
                &keys
            ),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
             SignedHeaders=host;x-amz-content-sha256;x-amz-date, \
             Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"
        );
    }

    #[test]
    fn empty_body_hash() {
        assert_eq!(
            hex(digest::digest(&digest::SHA256, b"").as_ref()),
            EMPTY_SHA256
        );
    }

    #[test]
    fn keys_have_the_aws_shape() {
        let keys = Keys::generate().unwrap();
        assert_eq!(keys.access_key_id.len(), 20);
        assert_eq!(keys.secret_access_key.len(), 40);
        assert!(
            keys.secret_access_key
                .chars()
                .all(|c| c.is_ascii_alphanumeric())
        );
        assert_ne!(
            keys.secret_access_key,
            Keys::generate().unwrap().secret_access_key
        );
        assert!(!format!("{keys:?}").contains(&keys.secret_access_key));
    }
}
