"""One construct per capability; the stack composes them and makes the grants between them."""
