"""`gaussian spec`: write a commented example, print the JSON schema, or check and hash a spec."""
import json
from pathlib import Path

import typer


def register(cli: typer.Typer) -> None:
    """Attach the `spec` command."""

    @cli.command("spec")
    def spec(
        path: Path | None = typer.Argument(None, metavar="SPEC", help="Spec file to validate (YAML, JSON or TOML)."),
        set_: list[str] = typer.Option([], "--set", metavar="FIELD=VALUE", help="Override a field: path.to.field=value (repeatable)."),
        example: bool = typer.Option(False, "--example", help="Print a commented example spec."),
        schema: bool = typer.Option(False, "--schema", help="Print the JSON schema."),
        out: Path | None = typer.Option(None, "--out", "-o", help="Write the example/schema to this file."),
    ) -> None:
        """Validate a spec and print its hash, or print the example / JSON schema."""
        from experiments.spec.io import check_data_inputs, example_yaml, load_spec, spec_hash, spec_schema

        if example or schema:
            text = example_yaml() if example else json.dumps(spec_schema(), indent=2) + "\n"
            if out:
                out.write_text(text, encoding="utf-8")
                typer.echo(f"wrote {out}")
            else:
                typer.echo(text, nl=False)
            return
        s = load_spec(path, set_)
        check_data_inputs(s, str(path) if path else "spec")
        typer.echo(json.dumps({"hash": spec_hash(s), "spec": s.model_dump(mode="json")}, indent=2))
