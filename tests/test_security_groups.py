"""Security groups without Docker: rules, the registry's EC2 errors, the policy, the chain
Docker would install, and what the simulated backend claims (nothing)."""

from __future__ import annotations

import pytest

import pyecs
from pyecs.backends import SimulatedBackend
from pyecs.backends.docker._firewall import render
from pyecs.exceptions import InvalidParameterError

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"protocol": "tcp", "from_port": 80, "to_port": 70, "cidr": "10.0.0.0/8"}, "FromPort <="),
        ({"protocol": "tcp", "from_port": 1, "to_port": 70000, "cidr": "10.0.0.0/8"}, "0-65535"),
        ({"protocol": "tcp", "from_port": 80, "to_port": 80, "cidr": "10.0.0.300/8"}, "malformed"),
        ({"protocol": "tcp", "from_port": 80, "to_port": 80, "cidr": "10.0.0.1/8"}, "10.0.0.0/8"),
        ({"protocol": "gre", "cidr": "10.0.0.0/8"}, "tcp, udp, icmp or -1"),
        ({"protocol": "tcp", "from_port": 80, "to_port": 80}, "exactly one source"),
    ],
)
def test_a_bad_rule_names_the_field_and_the_way_out(kwargs: dict[str, object], words: str) -> None:
    with pytest.raises(InvalidParameterError, match=words):
        pyecs.IngressRule(**kwargs)  # type: ignore[arg-type]


def test_ip_permissions_give_one_rule_per_source_and_all_traffic_ignores_ports() -> None:
    perm = {
        "IpProtocol": "tcp",
        "FromPort": 80,
        "ToPort": 81,
        "IpRanges": [{"CidrIp": "10.0.0.0/8"}],
        "UserIdGroupPairs": [{"GroupId": "sg-1"}],
    }
    from pyecs.models.security_group import ingress_rules_from

    a, b = ingress_rules_from([perm])
    assert (a.cidr, b.source_group) == ("10.0.0.0/8", "sg-1")
    assert pyecs.IngressRule("-1", 5, 6, cidr="0.0.0.0/0").from_port == -1
    with pytest.raises(InvalidParameterError, match="names no source"):
        ingress_rules_from([{"IpProtocol": "tcp", "FromPort": 1, "ToPort": 2}])


def test_policy_admits_by_group_address_protocol_and_port() -> None:
    web = pyecs.SecurityGroup(
        "sg-web",
        "web",
        ingress=(
            pyecs.IngressRule("tcp", 80, 90, source_group="sg-app"),
            pyecs.IngressRule("udp", 53, 53, cidr="10.1.0.0/16"),
        ),
    )
    policy = pyecs.SecurityPolicy((web,))
    assert policy.admits(["sg-web"], source_groups=["sg-app"], port=85)
    assert not policy.admits(["sg-web"], source_groups=["sg-app"], port=91)
    assert not policy.admits(["sg-web"], source_groups=["sg-other"], port=85)
    assert policy.admits(["sg-web"], source_address="10.1.2.3", protocol="udp", port=53)
    assert not policy.admits(["sg-web"], source_address="10.2.2.3", protocol="udp", port=53)
    assert not policy.admits(["sg-web"], source_address="10.1.2.3", protocol="tcp", port=53)
    assert policy.admits([], port=1)  # a task in no group is not filtered


async def test_registry_speaks_ec2_errors() -> None:
    async with pyecs.Cluster("sg", backend=SimulatedBackend(1)) as cluster:
        web = await cluster.create_security_group("web", "the web tier")
        assert web.group_id.startswith("sg-") and len(web.group_id) == 20
        with pytest.raises(pyecs.SecurityGroupError, match="already exists") as dup:
            await cluster.create_security_group("web")
        assert dup.value.code == "InvalidGroup.Duplicate"
        with pytest.raises(pyecs.SecurityGroupNotFoundError, match="create_security_group"):
            await cluster.authorize_security_group_ingress("sg-nope", [])
        rule = pyecs.IngressRule("tcp", 80, 80, cidr="0.0.0.0/0")
        await cluster.authorize_security_group_ingress(web.group_id, [rule])
        with pytest.raises(pyecs.SecurityGroupError) as again:
            await cluster.authorize_security_group_ingress(web.group_id, [rule])
        assert again.value.code == "InvalidPermission.Duplicate"
        with pytest.raises(pyecs.SecurityGroupNotFoundError):
            await cluster.authorize_security_group_ingress(
                web.group_id, [pyecs.IngressRule("tcp", 1, 1, source_group="sg-ghost")]
            )
        (shown,) = cluster.describe_security_groups([web.group_id])
        assert shown.ingress == (rule,)
        assert shown.to_ec2("123")["IpPermissions"][0]["IpRanges"] == [{"CidrIp": "0.0.0.0/0"}]
        await cluster.revoke_security_group_ingress(web.group_id, [rule])
        with pytest.raises(pyecs.SecurityGroupError) as gone:
            await cluster.revoke_security_group_ingress(web.group_id, [rule])
        assert gone.value.code == "InvalidPermission.NotFound"

        app = await cluster.create_security_group("app")
        await cluster.authorize_security_group_ingress(
            web.group_id, [pyecs.IngressRule("tcp", 80, 80, source_group=app.group_id)]
        )
        with pytest.raises(pyecs.SecurityGroupError, match="revoke those rules") as used:
            await cluster.delete_security_group(app.group_id)
        assert used.value.code == "DependencyViolation"

        await cluster.register_task_definition(
            {
                "family": "t",
                "networkMode": "awsvpc",
                "containerDefinitions": [{"name": "a", "image": "busybox", "memory": 32}],
            }
        )
        net = {"awsvpcConfiguration": {"subnets": ["s"], "securityGroups": ["sg-unknown"]}}
        with pytest.raises(pyecs.SecurityGroupNotFoundError, match="securityGroups"):
            await cluster.run_task("t", network_configuration=net)
        net["awsvpcConfiguration"]["securityGroups"] = [web.group_id]
        result = await cluster.run_task("t", network_configuration=net)
        await cluster.wait_tasks_running([result.tasks[0].arn], timeout=10)
        with pytest.raises(pyecs.SecurityGroupError, match="tasks that are not STOPPED"):
            await cluster.delete_security_group(web.group_id)
        assert not cluster.backend.capabilities.security_groups  # type: ignore[union-attr]


def test_the_docker_chain_is_stateful_then_allows_then_rejects() -> None:
    from pyecs.backends.docker._firewall import _Member

    web = pyecs.SecurityGroup(
        "sg-web", "web", ingress=(pyecs.IngressRule("tcp", 80, 81, source_group="sg-app"),)
    )
    members = {
        "t1": _Member(("sg-web",), None, addresses=("172.30.0.2",)),  # type: ignore[arg-type]
        "t2": _Member(("sg-app",), None, addresses=("172.30.0.3",)),  # type: ignore[arg-type]
    }
    text = render("PYECS-SG-x", "pyecs-sg cluster=c", pyecs.SecurityPolicy((web,)), members)
    lines = text.splitlines()
    assert lines[2].startswith("-A PYECS-SG-x -m conntrack --ctstate RELATED,ESTABLISHED")
    allow = [ln for ln in lines if "-s 172.30.0.3/32 -d 172.30.0.2/32" in ln]
    assert allow == [
        "-A PYECS-SG-x -s 172.30.0.3/32 -d 172.30.0.2/32 -p tcp -m tcp --dport 80:81 -m comment "
        '--comment "pyecs-sg cluster=c" -j RETURN'
    ]
    assert any("-d 172.30.0.3/32" in ln and "REJECT" in ln for ln in lines)  # t2 admits none
    assert all("pyecs-sg cluster=c" in ln for ln in lines if ln.startswith("-A"))


async def test_clusters_that_share_a_registry_see_and_protect_the_same_groups() -> None:
    """As EC2 groups belong to a VPC: a group one cluster's task uses cannot be deleted
    through another cluster, and a closed cluster no longer holds its groups."""
    shared = pyecs.SecurityGroupRegistry("region test")
    td = {
        "family": "t",
        "networkMode": "awsvpc",
        "containerDefinitions": [{"name": "a", "image": "busybox", "memory": 32}],
    }
    async with pyecs.Cluster("a", backend=SimulatedBackend(1), security_groups=shared) as a:
        web = await a.create_security_group("web")
        async with pyecs.Cluster("b", backend=SimulatedBackend(1), security_groups=shared) as b:
            assert b.security_groups is shared
            assert [g.group_id for g in b.describe_security_groups()] == [web.group_id]
            await b.register_task_definition(td)
            net = {"awsvpcConfiguration": {"subnets": ["s"], "securityGroups": [web.group_id]}}
            result = await b.run_task("t", network_configuration=net)
            await b.wait_tasks_running([result.tasks[0].arn], timeout=10)
            with pytest.raises(pyecs.SecurityGroupError) as used:
                await a.delete_security_group(web.group_id)
            assert used.value.code == "DependencyViolation"
            with pytest.raises(pyecs.SecurityGroupError, match="in region test"):
                await a.create_security_group("web")
        await a.delete_security_group(web.group_id)  # b closed: its tasks are gone
    with pytest.raises(InvalidParameterError, match="SecurityGroupRegistry"):
        pyecs.Cluster("c", security_groups=object())  # type: ignore[arg-type]
