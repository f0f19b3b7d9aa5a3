import zoo


def not_a_module(num_classes=2, in_chans=3):
    return {"weights": None}


@zoo.hookimpl
def zoo_architectures():
    return [
        zoo.ArchitectureSpec(name="garbage_twice", task="classification", builder=not_a_module),
        zoo.ArchitectureSpec(name="garbage_twice", task="classification", builder=not_a_module),
        zoo.ArchitectureSpec(name="garbage_missing_builder", task="classification",
                             builder="zoo_garbage_plugin.does_not_exist:build"),
        zoo.ArchitectureSpec(name="garbage_not_module", task="classification", builder=not_a_module),
        zoo.ArchitectureSpec(name="garbage_bad_builder", task="classification", builder=42),
        zoo.ArchitectureSpec(name="garbage_bad_tag", task="classification", builder=not_a_module,
                             pretrained={"t": zoo.PretrainedCfg(hf_hub_id="no-slash", sha256="xyz")}),
        None,
    ]


@zoo.hookimpl
def zoo_explainers():
    return {"not": "a list"}
