import zoo_a_module_that_does_not_exist  # noqa: F401
