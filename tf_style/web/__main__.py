"""`python -m tf_style.web`: the same as `tf-style serve`."""

from tf_style.web.server import main

main()
