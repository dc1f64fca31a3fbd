//! Wildcards of the policy language: `*` matches any run of characters, `?` exactly one.

/// Whether `text` matches `pattern`; `fold_case` for actions, which are case-insensitive.
pub fn matches(pattern: &str, text: &str, fold_case: bool) -> bool {
    // Hot path (every request, every statement): ASCII compares bytes without allocating.
    if pattern.is_ascii() && text.is_ascii() {
        let eq = |a: &u8, b: &u8| if fold_case { a.eq_ignore_ascii_case(b) } else { a == b };
        return glob(pattern.as_bytes(), text.as_bytes(), b'*', b'?', eq);
    }
    let (p, t): (Vec<char>, Vec<char>) = if fold_case {
        (pattern.to_lowercase().chars().collect(), text.to_lowercase().chars().collect())
    } else {
        (pattern.chars().collect(), text.chars().collect())
    };
    glob(&p, &t, '*', '?', |a, b| a == b)
}

fn glob<C: Copy + PartialEq>(p: &[C], t: &[C], any: C, one: C, eq: impl Fn(&C, &C) -> bool) -> bool {
    // Iterative glob match with backtracking to the last `*`: linear in practice, no recursion.
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some(c) if *c == any => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(c) if *c == one || t.get(ti).is_some_and(|x| eq(c, x)) => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p.get(pi..).is_some_and(|rest| rest.iter().all(|c| *c == any))
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn wildcards() {
        assert!(matches("s3:Get*", "s3:GetObject", false));
        assert!(matches("s3:get*", "S3:GetObject", true));
        assert!(!matches("s3:get*", "S3:GetObject", false));
        assert!(matches("arn:aws:s3:::b/photos/*", "arn:aws:s3:::b/photos/2024/a.jpg", false));
        assert!(!matches("arn:aws:s3:::b/photos/*", "arn:aws:s3:::b/docs/a", false));
        assert!(matches("a?c", "abc", false));
        assert!(!matches("a?c", "ac", false));
        assert!(matches("*", "", false));
        assert!(matches("a*b*c", "axxbyyc", false));
        assert!(!matches("a*b*c", "axxbyy", false));
    }
}
