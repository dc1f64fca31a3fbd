//! The Merkle tree over all records (RFC 9162's shape: a leaf is `H(0x00 ‖ record hash)`, a
//! node `H(0x01 ‖ left ‖ right)`, the left subtree the largest power of two), kept as a
//! frontier of perfect subtrees so that each append and each root costs O(log n), and the
//! inclusion proofs a tenant export carries.

use sha2::{Digest, Sha256};

/// A SHA-256 value.
pub type Hash = [u8; 32];

/// The leaf for a record hash.
pub fn leaf(record_hash: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(record_hash);
    h.finalize().into()
}

fn node(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The roots of the perfect subtrees that make up the tree so far, largest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    /// `(height, root)`; heights strictly decrease.
    subtrees: Vec<(u32, Hash)>,
    size: u64,
}

impl Frontier {
    /// Appends a leaf.
    pub fn push(&mut self, leaf: Hash) {
        let mut carry = (0u32, leaf);
        while let Some(&(height, left)) = self.subtrees.last() {
            if height != carry.0 {
                break;
            }
            self.subtrees.pop();
            carry = (height + 1, node(&left, &carry.1));
        }
        self.subtrees.push(carry);
        self.size += 1;
    }

    /// Its perfect subtrees `(height, root)`, largest first, and its size (to store it).
    pub fn parts(&self) -> (Vec<(u32, Hash)>, u64) {
        (self.subtrees.clone(), self.size)
    }

    /// A frontier from [`Frontier::parts`]; `None` if they do not describe one.
    pub fn from_parts(subtrees: Vec<(u32, Hash)>, size: u64) -> Option<Frontier> {
        let consistent = subtrees.windows(2).all(|w| w[0].0 > w[1].0)
            && subtrees.iter().map(|(h, _)| 1u64.checked_shl(*h).unwrap_or(0)).sum::<u64>() == size;
        consistent.then_some(Frontier { subtrees, size })
    }

    /// Leaves so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The root (all zeros for an empty tree).
    pub fn root(&self) -> Hash {
        let mut it = self.subtrees.iter().rev();
        let Some(&(_, mut acc)) = it.next() else { return [0u8; 32] };
        for (_, left) in it {
            acc = node(left, &acc);
        }
        acc
    }
}

/// The root over `leaves`.
pub fn root(leaves: &[Hash]) -> Hash {
    let mut f = Frontier::default();
    for l in leaves {
        f.push(*l);
    }
    f.root()
}

/// Every level of the tree over `leaves`, bottom first: a node without a sibling moves up
/// unchanged, which gives the same tree as the recursive definition.
pub struct Levels(Vec<Vec<Hash>>);

impl Levels {
    pub fn build(leaves: Vec<Hash>) -> Levels {
        let mut levels = vec![leaves];
        while levels.last().is_some_and(|l| l.len() > 1) {
            let below = levels.last().map(Vec::as_slice).unwrap_or_default();
            let above = below.chunks(2).map(|p| if p.len() == 2 { node(&p[0], &p[1]) } else { p[0] }).collect();
            levels.push(above);
        }
        Levels(levels)
    }

    /// The inclusion proof of leaf `index`: its siblings, bottom up.
    pub fn proof(&self, index: usize) -> Vec<Hash> {
        let mut out = Vec::new();
        let mut i = index;
        for level in &self.0 {
            if level.len() <= 1 {
                break;
            }
            let sibling = if i % 2 == 1 { Some(i - 1) } else { (i + 1 < level.len()).then_some(i + 1) };
            if let Some(s) = sibling {
                out.push(level[s]);
            }
            i /= 2;
        }
        out
    }
}

/// Checks an inclusion proof (RFC 9162, 2.1.3.2).
pub fn verify_inclusion(index: u64, size: u64, leaf: &Hash, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            r = node(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && r == *root
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n).map(|i| leaf(&Sha256::digest(i.to_be_bytes()).into())).collect()
    }

    /// The recursive definition, to compare against.
    fn reference_root(l: &[Hash]) -> Hash {
        match l.len() {
            0 => [0u8; 32],
            1 => l[0],
            n => {
                let mut k = 1;
                while k * 2 < n {
                    k *= 2;
                }
                node(&reference_root(&l[..k]), &reference_root(&l[k..]))
            }
        }
    }

    #[test]
    fn frontier_levels_and_definition_agree() {
        for n in 1..70 {
            let l = leaves(n);
            let r = root(&l);
            assert_eq!(r, reference_root(&l), "size {n}");
            let levels = Levels::build(l.clone());
            assert_eq!(levels.0.last().unwrap()[0], r, "size {n}");
        }
    }

    #[test]
    fn every_proof_verifies_and_a_wrong_one_does_not() {
        for n in 1..40u64 {
            let l = leaves(n as usize);
            let r = root(&l);
            let levels = Levels::build(l.clone());
            for i in 0..n {
                let p = levels.proof(i as usize);
                assert!(verify_inclusion(i, n, &l[i as usize], &p, &r), "leaf {i} of {n}");
                let other = l[((i + 1) % n) as usize];
                if n > 1 {
                    assert!(!verify_inclusion(i, n, &other, &p, &r), "wrong leaf {i} of {n}");
                    assert!(!verify_inclusion((i + 1) % n, n, &l[i as usize], &p, &r) || i == (i + 1) % n);
                }
            }
        }
    }
}
