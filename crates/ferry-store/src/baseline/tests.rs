use super::*;

fn check(namespace: &str, expected_pattern_prefix: &str) {
    assert_eq!(escape_glob(namespace), expected_pattern_prefix);
}

#[test]
fn a_namespace_only_ever_matches_itself() {
    check("ferry-bench-0a1b", "ferry-bench-0a1b");
    check("a*b", "a\\*b");
    check("what?", "what\\?");
    check("[x]", "\\[x\\]");
    check("back\\slash", "back\\\\slash");
}
