import zoo


@zoo.hookimpl
def zoo_architectures():  # builds the list, then forgets to return it: registers nothing
    [zoo.ArchitectureSpec("forgotten", "classification", builder="zoo_broken_plugins:nothing")]
