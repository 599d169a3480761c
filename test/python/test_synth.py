"""Synthesize a SmartHomePlatform through the Python binding of cdk-smart-home.

Run by scripts/test-python-package.sh inside a virtual environment that has the built wheel,
aws-cdk-lib and constructs from PyPI. Exits non-zero on the first failed check.
"""

import os
import sys
import tempfile

import aws_cdk as cdk
from cdk_smart_home import SmartHomePlatform

REQUIRED_RESOURCE_TYPES = ("AWS::IoT::ProvisioningTemplate", "AWS::AppSync::GraphQLApi")


def fail(message: str) -> None:
    print(f"test_synth: FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def synthesize(outdir: str) -> tuple[dict, str]:
    """Synthesize a platform with only its required props and return the template and assembly directory."""
    app = cdk.App(outdir=outdir, context={"aws:cdk:enable-asset-metadata": True})
    stack = cdk.Stack(app, "PythonConsumer")
    SmartHomePlatform(stack, "Platform", stage="test")
    assembly = app.synth()
    return assembly.get_stack_by_name("PythonConsumer").template, assembly.directory


def check_resource_types(resources: dict) -> None:
    types = {resource["Type"] for resource in resources.values()}
    for required in REQUIRED_RESOURCE_TYPES:
        if required not in types:
            fail(f"the template has no {required}; it has {sorted(types)}")


def check_handler_assets(resources: dict, assembly_dir: str) -> int:
    """Check that every function's asset is a prebuilt bundle and return the number of functions."""
    functions = {
        logical_id: resource
        for logical_id, resource in resources.items()
        if resource["Type"] == "AWS::Lambda::Function"
    }
    if not functions:
        fail("the template has no AWS::Lambda::Function")
    for logical_id, resource in functions.items():
        asset = resource.get("Metadata", {}).get("aws:asset:path")
        if asset is None:
            fail(f"function {logical_id} has no aws:asset:path metadata")
        handler = os.path.join(assembly_dir, asset, "index.js")
        if not os.path.isfile(handler):
            fail(f"function {logical_id} has no prebuilt handler bundle: {handler} is missing")
    return len(functions)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="cdk-smart-home-python-") as outdir:
        template, assembly_dir = synthesize(outdir)
        resources = template.get("Resources", {})
        check_resource_types(resources)
        function_count = check_handler_assets(resources, assembly_dir)
    print(f"test_synth: synthesized {len(resources)} resources, {function_count} functions with prebuilt handlers")


if __name__ == "__main__":
    main()
