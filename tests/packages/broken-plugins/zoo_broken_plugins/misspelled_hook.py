import zoo


@zoo.hookimpl
def zoo_architecture():  # the hook is zoo_architectures: this registers nothing
    return [zoo.ArchitectureSpec("never_registered", "classification", builder="zoo_broken_plugins:nothing")]
