use mira_store::BlobKey;
use sha2::{Digest, Sha256};

/// Digests the data set bytes of a file as it is written, skipping the File Meta Information,
/// so that the same instance gets the same key whichever way it arrived.
#[derive(Debug, Clone)]
pub struct DatasetDigest {
    hasher: Sha256,
    /// Bytes still to skip before the data set starts.
    skip: u64,
}

impl DatasetDigest {
    /// A digest of a file whose data set starts at `dataset_offset`.
    pub fn new(dataset_offset: u64) -> Self {
        DatasetDigest {
            hasher: Sha256::new(),
            skip: dataset_offset,
        }
    }

    /// Feeds the next bytes of the file.
    pub fn update(&mut self, mut bytes: &[u8]) {
        if self.skip > 0 {
            let n = (self.skip as usize).min(bytes.len());
            self.skip -= n as u64;
            bytes = &bytes[n..];
        }
        self.hasher.update(bytes);
    }

    /// The blob key of the data set.
    pub fn finish(self) -> BlobKey {
        BlobKey::from_digest(self.hasher)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_the_head_whatever_the_chunking() {
        let file = b"HEADHEADdata set bytes";
        let mut whole = DatasetDigest::new(8);
        whole.update(file);
        let mut pieces = DatasetDigest::new(8);
        for chunk in file.chunks(3) {
            pieces.update(chunk);
        }
        let mut data_only = DatasetDigest::new(0);
        data_only.update(b"data set bytes");
        let key = data_only.finish();
        assert_eq!(whole.finish(), key);
        assert_eq!(pieces.finish(), key);
    }
}
