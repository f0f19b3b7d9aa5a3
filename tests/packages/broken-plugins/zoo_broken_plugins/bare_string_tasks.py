import zoo


@zoo.hookimpl
def zoo_explainers():
    return [
        zoo.ExplainerSpec("string_tasks", "zoo_broken_plugins:nothing", tasks="classification"),
        zoo.ExplainerSpec("no_tasks", "zoo_broken_plugins:nothing", tasks=None),
    ]
