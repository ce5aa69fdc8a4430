/** paddock's version: `--version`, and the tag of the image the Containerfile builds. */
export const PADDOCK_VERSION = "0.1.0";
