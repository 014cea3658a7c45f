"""describe(), export_dot() and export_graph() with auto_workflow's keys and node names."""

import json

from taskloom import fan_out, flow, task
from taskloom.compat.auto_workflow.dag import DAG


@task
def numbers():
    return [1, 2, 3]


@task
def square(x):
    return x * x


@task(retries=2, persist=False)
def total(xs):
    return sum(xs)


@flow
def simple_dynamic():
    ns = numbers()
    mapped = fan_out(square, ns, max_concurrency=2)
    return total(mapped)


@task
def one():
    return 1


@task
def two(x):
    return x + 1


@flow
def cli_flow():
    a = one()
    b = two(a)
    return b


def test_describe_has_auto_workflow_keys():
    desc = cli_flow.describe()
    assert json.loads(json.dumps(desc)) == desc
    assert desc["flow"] == "cli_flow" and desc["count"] == 2
    assert desc["dynamic_count"] == 0 and desc["dynamic_fanouts"] == []
    assert [(n["id"], n["name"], n["task"]) for n in desc["nodes"]] == [
        ("one#0", "one:1", "one"),
        ("two#0", "two:1", "two"),
    ]
    assert desc["edges"] == [["one#0", "two#0"]]
    assert {"persist", "run_in", "retries", "upstream"} <= set(desc["nodes"][0])


def test_describe_includes_dynamic_fanout_metadata():
    desc = simple_dynamic.describe()
    dyn = desc["dynamic_fanouts"]
    assert isinstance(dyn, list) and len(dyn) == 1 and desc["dynamic_count"] == 1
    entry = dyn[0]
    assert entry["type"] == "dynamic_fanout" and entry["task"] == "square"
    assert entry["name"] == "fanout:1" and entry["max_concurrency"] == 2
    assert entry["source"] == "numbers#0"
    fanout_id = entry["id"]
    consumer = next(n for n in desc["nodes"] if n["task"] == "total")
    assert fanout_id in consumer["upstream"]
    assert entry["consumers"] == [consumer["id"]]
    assert consumer["retries"] == 2
    assert desc["count"] == 2  # the fan-out's calls are not known yet


def test_describe_does_not_run_tasks():
    assert simple_dynamic.describe() == simple_dynamic.describe()
    assert simple_dynamic.run() == 14


def test_export_dot_uses_auto_workflow_names():
    dot = cli_flow.export_dot()
    assert dot.startswith("digraph G {")
    assert '"one:1" -> "two:1";' in dot
    assert '"two:1";' in dot
    dynamic = simple_dynamic.export_dot()
    assert '"fanout:1" [shape="diamond", label="fan_out(square)"];' in dynamic
    assert '"numbers:1" -> "fanout:1";' in dynamic and '"fanout:1" -> "total:1";' in dynamic


def test_export_graph():
    assert cli_flow.export_graph() == {
        "one:1": {"upstream": [], "downstream": ["two:1"]},
        "two:1": {"upstream": ["one:1"], "downstream": []},
    }


def test_dag_to_dot_and_to_dict_and_subgraph():
    dag = DAG()
    dag.add_edge("a", "b")
    dag.add_edge("a", "c")
    dag.add_edge("b", "d")
    d = dag.to_dict()
    assert set(d.keys()) == {"a", "b", "c", "d"}
    dot = dag.to_dot()
    assert '"a" -> "b";' in dot and '"a" -> "c";' in dot
    sg = dag.subgraph(["a", "b", "d"])
    sd = sg.to_dict()
    assert set(sd.keys()) == {"a", "b", "d"}
    assert "c" not in sd
    order = dag.topological_sort()
    assert order.index("a") < order.index("b") < order.index("d")
