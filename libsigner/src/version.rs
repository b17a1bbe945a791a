//! The version string signers publish in their messages and print with `--version`.

use std::sync::LazyLock;

/// The reference release this implementation is compatible with.
pub const STACKS_SIGNER_VERSION: &str = "3.3.0.0.4.0";
/// The node release the compatible signer release pairs with.
pub const STACKS_NODE_VERSION: &str = "3.3.0.0.4";

const GIT_COMMIT: Option<&str> = option_env!("GIT_COMMIT");
const GIT_TREE_CLEAN: Option<&str> = option_env!("GIT_TREE_CLEAN");

#[cfg(debug_assertions)]
const BUILD_TYPE: &str = "debug";
#[cfg(not(debug_assertions))]
const BUILD_TYPE: &str = "release";

/// `"{pkg} {version} ({commit}{+ if dirty}, {debug|release} build, {os} [{arch}])"`, the
/// reference's format.
pub fn version_string(pkg_name: &str, pkg_version: Option<&str>) -> String {
    let version = pkg_version.unwrap_or(STACKS_NODE_VERSION);
    let commit = GIT_COMMIT.unwrap_or("");
    let clean = GIT_TREE_CLEAN.unwrap_or("");
    format!(
        "{pkg_name} {version} ({commit}{clean}, {BUILD_TYPE} build, {} [{}])",
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

/// This signer's version string, e.g.
/// `stacks-signer 3.3.0.0.4.0 (abc1234, release build, linux [x86_64])`.
pub static VERSION_STRING: LazyLock<String> = LazyLock::new(|| {
    version_string(
        "stacks-signer",
        option_env!("STACKS_NODE_VERSION").or(Some(STACKS_SIGNER_VERSION)),
    )
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_string_names_the_signer_release() {
        assert!(VERSION_STRING.contains("stacks-signer 3.3.0.0.4.0"));
        assert!(VERSION_STRING.ends_with(&format!(
            "build, {} [{}])",
            std::env::consts::OS,
            std::env::consts::ARCH
        )));
    }
}
