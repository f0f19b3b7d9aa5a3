import zoo


@zoo.hookimpl
def zoo_architectures():
    return [
        zoo.ArchitectureSpec(name="bad.name", task="classification", builder="m:f"),
        zoo.ArchitectureSpec(name="bad_task", task="painting", builder="m:f"),
        "not a spec",
        zoo.ArchitectureSpec(name="survivor", task="classification", builder="zoo_broken_plugins.invalid_spec:build"),
    ]


def build(num_classes=2, in_chans=3):
    return "not a module"
