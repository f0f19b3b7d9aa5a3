import zoo


@zoo.hookimpl
def zoo_architectures():
    raise RuntimeError("hook exploded on purpose")
