"""Go text/template as ``docker image inspect --format`` runs it: output, and bad templates.

The expected outputs are what Go (docker CLI 28) prints for the same template and data; the
integration tests compare against the docker CLI itself on a real image.
"""
from __future__ import annotations

import copy

import pytest

from builder.gotemplate import Template, TemplateError, parse, render, render_image_inspect

DATA = {
    "Name": "web",
    "Size": 1234,
    "Ratio": 0.25,
    "Whole": 3.0,
    "Big": 12345678.0,
    "Ready": True,
    "Off": False,
    "Nothing": None,
    "Empty": "",
    "Tags": ["v1", "latest"],
    "NoTags": [],
    "Mixed": ["a", None, 2],
    "Labels": {"b": "2", "a": "1", "c.d": "x<y&z>"},
    "Nested": {"Inner": {"Deep": "yes"}, "List": [{"K": "k1"}, {"K": "k2"}]},
    "Unicode": "h\u00e9llo",
}

RENDER_CASES = [
    # fields, chains and missing keys
    ("{{.Name}}", "web"),
    ("{{ .Nested.Inner.Deep }}", "yes"),
    ("{{.Missing}}", "<no value>"),
    ("{{.Nested.Missing.Deeper}}", "<no value>"),
    ("{{.Nothing}}", "<no value>"),
    ("{{print .Nothing .Missing}}", "<nil> <nil>"),
    ("plain text only", "plain text only"),
    ("", ""),
    # how values print
    ("{{.Size}}", "1234"),
    ("{{.Whole}} {{.Big}} {{.Ratio}}", "3 12345678 0.25"),
    ("{{.Ready}} {{.Off}}", "true false"),
    ("{{.Tags}} {{.NoTags}} {{.Mixed}}", "[v1 latest] [] [a <nil> 2]"),
    ("{{.Labels}}", "map[a:1 b:2 c.d:x<y&z>]"),
    ("{{.Nested}}", "map[Inner:map[Deep:yes] List:[map[K:k1] map[K:k2]]]"),
    ('{{"quoted\\t\\"s\\""}}|{{`raw\\n`}}|{{\'a\'}}|{{0x1F}}|{{1e3}}|{{1e6}}|{{2.50}}|{{-0}}',
     'quoted\t"s"|raw\\n|97|31|1000|1e+06|2.5|0'),
    ("{{true}} {{false}} {{1+2i}}", "true false (1+2i)"),
    # json: the dict's own key order, no HTML escaping, Go's escapes
    ("{{json .Labels}}", '{"b":"2","a":"1","c.d":"x<y&z>"}'),
    ("{{json .Tags}} {{json .NoTags}} {{json .Mixed}}", '["v1","latest"] [] ["a",null,2]'),
    ("{{json .Nothing}} {{json .Missing}} {{json .Ready}}", "null null true"),
    ("{{json .Ratio}} {{json .Whole}} {{json .Size}} {{json 1e21}} {{json 1.5e-7}}",
     "0.25 3 1234 1e+21 1.5e-7"),
    ('{{json "tab\\tline\\n\\u2028\\u0001\\\\"}}', '"tab\\tline\\n\\u2028\\u0001\\\\"'),
    ("{{json .Unicode}}", '"h\u00e9llo"'),
    # index
    ('{{index .Labels "a"}}|{{index .Labels "zz"}}', "1|<no value>"),
    ('{{index .Nested "List" 1 "K"}} {{index .Tags 1}} {{index "abc" 1}}', "k2 latest 98"),
    # range
    ("{{range .Tags}}[{{.}}]{{end}}", "[v1][latest]"),
    ("{{range $i, $t := .Tags}}{{$i}}={{$t}} {{end}}", "0=v1 1=latest "),
    ("{{range $k, $v := .Labels}}{{$k}}={{$v}};{{end}}", "a=1;b=2;c.d=x<y&z>;"),
    ("{{range .NoTags}}x{{else}}none{{end}} {{range .Missing}}x{{else}}none{{end}}", "none none"),
    ("{{range 3}}{{.}}{{end}}", "012"),
    ("{{range .Mixed}}<{{.}}>{{end}}", "<a><<no value>><2>"),
    ('{{range .Tags}}{{if eq . "latest"}}{{break}}{{end}}{{.}}{{end}}', "v1"),
    ('{{range .Tags}}{{if eq . "v1"}}{{continue}}{{end}}{{.}}{{end}}', "latest"),
    ("{{range .Nested.List}}{{.K}},{{end}}", "k1,k2,"),
    # if, with, variables
    ("{{if .Empty}}a{{else if .Ready}}b{{else}}c{{end}}", "b"),
    ("{{if .Nothing}}a{{else}}b{{end}}{{if .NoTags}}c{{else}}d{{end}}", "bd"),
    ("{{with .Nested.Inner}}{{.Deep}}{{end}}", "yes"),
    ("{{with .Missing}}x{{else with .Name}}{{.}}{{end}}", "web"),
    ("{{$n := .Name}}{{range .Tags}}{{$n}}:{{.}} {{end}}", "web:v1 web:latest "),
    ("{{range .Tags}}{{$.Name}}{{end}}", "webweb"),
    ("{{$x := 1}}{{if true}}{{$x = 2}}{{end}}{{$x}}", "2"),
    ("{{$x := 1}}{{if true}}{{$x := 2}}{{$x}}{{end}}{{$x}}", "21"),
    # pipelines and parentheses
    ('{{.Name | upper | printf "%s!"}}', "WEB!"),
    ('{{"x" | printf "%s-%s" "y"}}', "y-x"),
    ("{{(index .Nested.List 0).K}} {{(.Nested).Inner.Deep}}", "k1 yes"),
    ("{{.Mixed | len}}", "3"),
    # docker's functions
    ('{{join .Tags ", "}}', "v1, latest"),
    ('{{split "a,b,,c" ","}} {{len (split "a,b" ",")}} {{split "" ","}} {{json (split "ab" "")}}',
     '[a b  c] 2 [] ["a","b"]'),
    ('{{lower "\u00c0B"}} {{upper .Unicode}} {{title "hello wORLD-x_y"}}',
     "\u00e0b H\u00c9LLO Hello WORLD-X_y"),
    ("{{pad .Name 2 1}}|{{pad .Empty 2 1}}|{{truncate .Name 2}}|{{truncate .Name 9}}", "  web ||we|web"),
    # Go's builtins
    ("{{len .Tags}} {{len .Labels}} {{len .Unicode}}", "2 3 6"),
    ('{{printf "%s|%d|%5.2f|%q|%v|%x|%-4s|%05d" .Name .Size .Ratio .Name .Tags 255 "ab" 42}}',
     'web|1234| 0.25|"web"|[v1 latest]|ff|ab  |00042'),
    ('{{printf "%d"}} {{printf "%d" "x"}} {{printf "%s" 1 2}} {{printf "%"}}',
     "%!d(MISSING) %!d(string=x) %!s(int=1)%!(EXTRA int=2) %!(NOVERB)"),
    ('{{printf "%T %T %T %T %T" .Name .Size .Ratio .Tags .Labels}}',
     "string int float64 []interface {} map[string]interface {}"),
    ('{{print 1 2 "a" "b" 3}}|{{println "x" 1}}', "1 2ab3|x 1\n"),
    ('{{eq .Size 1234}} {{ne .Name "web"}} {{lt 1 2}} {{ge "b" "a"}} {{eq .Name "a" "web"}}',
     "true false true true true"),
    ("{{eq .Missing nil}} {{le 2 2}} {{gt 1.5 2.5}}", "true true false"),
    ("{{and .Name .Empty}}|{{or .Empty .Name}}|{{not .Ready}}|{{and 1 2}}", "|web|false|2"),
    ("{{slice .Tags 1}} {{slice .Name 1 3}}", "[latest] eb"),
    ("{{html \"<a href='x'>&</a>\"}} {{urlquery \"a b/c\"}} {{js \"it's\"}}",
     "&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt; a+b%2Fc it\\'s"),
    # trim markers and comments
    ("a  {{- .Name -}}  b", "awebb"),
    ("{{range .Tags}}\n  - {{.}}\n{{- end}}", "\n  - v1\n  - latest"),
    ("{{/* a comment */}}x{{- /* trimmed */ -}}  y", "xy"),
    ("{{-3}}", "-3"),
    # define, template, block
    ('{{define "item"}}<{{.}}>{{end}}{{range .Tags}}{{template "item" .}}{{end}}', "<v1><latest>"),
    ('{{block "b" .Name}}[{{.}}]{{end}}', "[web]"),
]


@pytest.mark.parametrize("template,expected", RENDER_CASES)
def test_render(template, expected):
    assert render(template, DATA) == expected


# An engine's image inspect (API 1.41), as docker-py returns it.
INSPECT = {
    "Id": "sha256:" + "1" * 64,
    "RepoTags": ["images-test/fmt:latest"],
    "RepoDigests": [],
    "Parent": "sha256:" + "2" * 64,
    "Comment": "",
    "Created": "2024-05-01T10:00:00.5Z",
    "Container": "3" * 64,
    "ContainerConfig": {
        "Hostname": "333333333333", "Domainname": "", "User": "", "AttachStdin": False,
        "AttachStdout": False, "AttachStderr": False, "ExposedPorts": {"80/tcp": {}}, "Tty": False,
        "OpenStdin": False, "StdinOnce": False, "Env": ["X=1"],
        "Cmd": ["/bin/sh", "-c", "#(nop) ", 'CMD ["/x" "arg one"]'],
        "Image": "sha256:" + "2" * 64, "Volumes": None, "WorkingDir": "", "Entrypoint": None,
        "OnBuild": None, "Labels": {"a": "b"},
    },
    "DockerVersion": "20.10.24",
    "Author": "",
    "Config": {
        "Hostname": "", "Domainname": "", "User": "", "AttachStdin": False, "AttachStdout": False,
        "AttachStderr": False, "ExposedPorts": {"80/tcp": {}}, "Tty": False, "OpenStdin": False,
        "StdinOnce": False, "Env": ["X=1", "Y=two words"], "Cmd": ["/x", "arg one"],
        "Healthcheck": {"Test": ["CMD", "/x", "check"], "Interval": 30000000000,
                        "Timeout": 1500000000, "Retries": 3},
        "Image": "sha256:" + "2" * 64, "Volumes": {"/data": {}}, "WorkingDir": "/w",
        "Entrypoint": None, "OnBuild": None,
        "Labels": {"a": "b", "c": "d", "weird": "x<y&z> \u00e9"},
        "StopSignal": "SIGTERM",
    },
    "Architecture": "amd64",
    "Os": "linux",
    "Size": 6,
    "VirtualSize": 6,
    "GraphDriver": {"Data": {"MergedDir": "/storage/merged", "UpperDir": "/storage/diff"},
                    "Name": "overlay2"},
    "RootFS": {"Type": "layers", "Layers": ["sha256:" + "4" * 64, "sha256:" + "5" * 64]},
    "Metadata": {"LastTagTime": "2024-05-01T10:00:00.123456789Z"},
}

# An imported image: almost everything null.
IMPORTED = {
    "Id": "sha256:" + "6" * 64, "RepoTags": ["imp:latest"], "RepoDigests": [], "Parent": "",
    "Comment": "Imported from -", "Created": "2024-05-01T10:00:00Z", "Container": "",
    "ContainerConfig": {"Hostname": "", "Env": None, "Cmd": None, "Entrypoint": None,
                        "Labels": None},
    "DockerVersion": "20.10.24", "Author": "",
    "Config": {"Hostname": "", "Env": None, "Cmd": None, "Image": "", "Volumes": None,
               "WorkingDir": "", "Entrypoint": None, "OnBuild": None, "Labels": None},
    "Architecture": "amd64", "Os": "linux", "Size": 3, "VirtualSize": 3,
    "GraphDriver": {"Data": None, "Name": "overlay2"},
    "RootFS": {"Type": "layers", "Layers": ["sha256:" + "7" * 64]},
    "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"},
}

ID = "sha256:" + "1" * 64

INSPECT_CASES = [
    # the required templates
    ("{{ json .RootFS.Layers }}", f'["sha256:{"4" * 64}","sha256:{"5" * 64}"]'),
    ("{{ .Architecture }}", "amd64"),
    ("{{ .Id }}", ID),
    ('{{ index .Config.Labels "a" }}', "b"),
    ("{{ range $k, $v := .Config.Labels }}{{ $k }}={{ $v }};{{ end }}", "a=b;c=d;weird=x<y&z> \u00e9;"),
    ('{{ join .Config.Cmd " " }}', "/x arg one"),
    ("{{ .Config.Env }}", "[X=1 Y=two words]"),
    ("{{ json .Config.Labels }}", '{"a":"b","c":"d","weird":"x<y&z> \u00e9"}'),
    ("{{ .Size }}", "6"),
    ("{{ upper .Os }}", "LINUX"),
    ("{{ if .Config.Labels }}yes{{ else }}no{{ end }}", "yes"),
    ("{{ len .RootFS.Layers }}", "2"),
    # the CLI's typed struct: nil slices and maps, zero values, struct printing and JSON
    ("{{ .ID }}", ID),
    ("{{.Config.Entrypoint}} {{.Config.OnBuild}} {{json .Config.Entrypoint}}", "[] [] null"),
    ('{{index .Config.Labels "nope"}}|{{.Config.Labels.nope}}', "|<no value>"),
    ("{{.Config.ExposedPorts}} {{json .Config.Volumes}}", 'map[80/tcp:{}] {"/data":{}}'),
    ("{{.RootFS}}", f"{{layers [sha256:{'4' * 64} sha256:{'5' * 64}]}}"),
    ("{{.GraphDriver}}", "{map[MergedDir:/storage/merged UpperDir:/storage/diff] overlay2}"),
    ("{{.Metadata.LastTagTime}} {{json .Metadata}}",
     '2024-05-01 10:00:00.123456789 +0000 UTC {"LastTagTime":"2024-05-01T10:00:00.123456789Z"}'),
    ("{{json .Config}}",
     '{"ExposedPorts":{"80/tcp":{}},"Env":["X=1","Y=two words"],"Cmd":["/x","arg one"],'
     '"Volumes":{"/data":{}},"WorkingDir":"/w","Labels":{"a":"b","c":"d","weird":"x<y&z> \u00e9"},'
     '"StopSignal":"SIGTERM","Healthcheck":{"Test":["CMD","/x","check"],"Interval":30000000000,'
     '"Timeout":1500000000,"Retries":3}}'),
    ("{{.Config.Healthcheck.Interval}} {{.Config.Healthcheck.Timeout}} {{.Config.Healthcheck.Retries}}",
     "30s 1.5s 3"),
    ("{{.ContainerConfig.Volumes}} {{.ContainerConfig.Healthcheck}} {{json .ContainerConfig.Healthcheck}}",
     "map[] <nil> null"),
    ('{{printf "%T %T %T" .Size .Config .Metadata.LastTagTime}} {{eq .Size 6}}',
     "int64 *v1.DockerOCIImageConfig time.Time true"),
    ('{{printf "%+v" .RootFS}}', f"{{Type:layers Layers:[sha256:{'4' * 64} sha256:{'5' * 64}]}}"),
    ("{{with .Descriptor}}d{{else}}no descriptor{{end}} {{.Manifests}} {{json .Manifests}}",
     "no descriptor [] null"),
    # a failed typed execution is run again over the raw JSON, as the CLI does
    ("{{.Id}} {{.Config.Entrypoint}} {{.Config.Hostname}}|", f"{ID} <no value> |"),
    ('{{.Id}} {{index .Config.Labels "nope"}} {{json .Config.Labels}}',
     f'{ID} <no value> {{"a":"b","c":"d","weird":"x<y&z> \u00e9"}}'),
    ('{{index .ContainerConfig.ExposedPorts "80/tcp"}}', "map[]"),
    ('{{.Id}} {{printf "%v %d" .Size .Size}}', f"{ID} 6 %!d(json.Number=6)"),
]


@pytest.mark.parametrize("template,expected", INSPECT_CASES)
def test_render_image_inspect(template, expected):
    assert render_image_inspect(template, INSPECT) == expected


@pytest.mark.parametrize("template,expected", [
    ("{{.Config.Labels}} {{.Config.Cmd}} {{.Config.Env}} {{len .Config.Labels}}", "map[] [] [] 0"),
    ("{{.GraphDriver.Data}} {{.Comment}}", "map[] Imported from -"),
    ("{{.Metadata.LastTagTime}}", "0001-01-01 00:00:00 +0000 UTC"),
    ("{{range .Config.Env}}x{{else}}no env{{end}}", "no env"),
    ("{{.Id}} {{.Config.Labels}} {{.Config.Cmd}}", f"sha256:{'6' * 64} <no value> <no value>"),
])
def test_render_image_inspect_of_an_imported_image(template, expected):
    assert render_image_inspect(template, IMPORTED) == expected


def test_render_image_inspect_leaves_the_data_alone():
    before = copy.deepcopy(INSPECT)
    render_image_inspect("{{.Id}}{{json .}}{{.Config}}", INSPECT)
    assert INSPECT == before


def test_a_template_is_parsed_once_and_rendered_many_times():
    template = parse("{{.Name}}:{{len .Tags}}")
    assert isinstance(template, Template)
    assert [template.render({"Name": n, "Tags": ["a"] * n}) for n in (1, 2)] == ["1:1", "2:2"]


PARSE_ERRORS = [
    ("{{.Size}", "template: :1:7: bad character U+007D '}'"),
    ("{{ .Size }", 'template: :1:9: unexpected "}" in operand'),
    ("{{", "template: :1:2: unclosed action"),
    ("a\n{{ .Size\n\n", "template: :4:0: unclosed action started at :2"),
    ("{{end}}", "template: :1:2: unexpected {{end}}"),
    ("{{ else }}", "template: :1:3: unexpected {{else}}"),
    ("{{if .Size}}x", "template: :1:13: unexpected EOF"),
    ("{{range}}{{end}}", "template: :1:7: missing value for range"),
    ("{{ if }}{{ end }}", "template: :1:6: missing value for if"),
    ("{{.Size | nope}}", 'template: :1:10: function "nope" not defined'),
    ('{{"abc}}', "template: :1:2: unterminated quoted string"),
    ("{{ `abc }}", "template: :1:3: unterminated raw quoted string"),
    ("{{ 'ab' }}", "template: :1:3: malformed character constant: 'ab'"),
    ('{{ "\\q" }}', "template: :1:3: invalid syntax"),
    ("{{ $x }}", 'template: :1:3: undefined variable "$x"'),
    ("{{ (.Size }}", "template: :1:10: unclosed left paren"),
    ("{{ .Size) }}", "template: :1:8: unexpected right paren"),
    ("{{ .Os | 3 }}", "template: :1:9: non executable command in pipeline stage 2"),
    ("{{ | .Os }}", 'template: :1:3: unexpected "|" in command'),
    ("{{ break }}", "template: :1:3: {{break}} outside {{range}}"),
    ("{{ 3abc }}", 'template: :1:3: bad number syntax: "3a"'),
    ("{{ 99999999999999999999 }}", 'template: :1:3: integer overflow: "99999999999999999999"'),
    ("{{ 1e400 }}", 'template: :1:3: illegal number syntax: "1e400"'),
    ('{{ "s".x }}', 'template: :1:6: unexpected . after term "\\"s\\""'),
    ("{{ @ }}", 'template: :1:3: unexpected "@" in command'),
    ("{{ \x01 }}", "template: :1:3: unrecognized character in action: U+0001"),
    ("{{/* unclosed", "template: :1:2: unclosed comment"),
    ("{{/* a */ x}}", "template: :1:2: comment ends before closing delimiter"),
    ("{{ if .Os }}{{ else }}{{ else }}{{ end }}", "template: :1:25: expected end; found {{else}}"),
    ("{{ range $k, $v, $w := .M }}{{ end }}", "template: :1:15: too many declarations in range"),
    ("{{ range $k, 3 := .M }}{{ end }}", "template: :1:13: range can only initialize variables"),
    ('{{ define "a" }}A{{ end }}{{ define "a" }}B{{ end }}',
     'template: :1:36: template: multiple definition of template "a"'),
    ("\u00e9{{ .Size }", 'template: :1:11: unexpected "}" in operand'),
]


@pytest.mark.parametrize("template,message", PARSE_ERRORS)
def test_parse_errors(template, message):
    with pytest.raises(TemplateError) as caught:
        parse(template)
    assert str(caught.value) == message


EXECUTION_ERRORS = [
    ("{{ .Name 3 }}", 'template: :1:3: executing "" at <.Name>: Name is not a method but has arguments'),
    ("{{ index .Name 3 }}",
     'template: :1:3: executing "" at <index .Name 3>: error calling index: reflect: string index out of range'),
    ("{{ index .Name 5 }}",
     'template: :1:3: executing "" at <index .Name 5>: error calling index: index out of range: 5'),
    ("{{ index .Tags 7 }}",
     'template: :1:3: executing "" at <index .Tags 7>: error calling index: index out of range: 7'),
    ('{{ index .Labels 1 }}',
     'template: :1:3: executing "" at <index .Labels 1>: error calling index: value has type int; should be string'),
    ("{{ json }}", 'template: :1:3: executing "" at <json>: wrong number of args for json: want 1 got 0'),
    ("{{ join .Tags }}", 'template: :1:3: executing "" at <join>: wrong number of args for join: want 2 got 1'),
    ("{{ 1 2 }}", 'template: :1:3: executing "" at <1>: can\'t give argument to non-function 1'),
    ("{{ nil }}", 'template: :1:3: executing "" at <nil>: nil is not a command'),
    ("{{ lower .Size }}", 'template: :1:9: executing "" at <.Size>: wrong type for value; expected string; got int'),
    ("{{ lower .Missing }}", 'template: :1:9: executing "" at <.Missing>: invalid value; expected string'),
    ("{{ join .Mixed \",\" }}", 'template: :1:8: executing "" at <.Mixed>: wrong type for value; expected []string; got []interface {}'),
    ("{{ .Nothing.X }}", 'template: :1:11: executing "" at <.Nothing.X>: nil pointer evaluating interface {}.X'),
    ("{{ .Name.X }}", 'template: :1:8: executing "" at <.Name.X>: can\'t evaluate field X in type interface {}'),
    ("{{ eq .Name 1 }}",
     'template: :1:3: executing "" at <eq .Name 1>: error calling eq: incompatible types for comparison'),
    ("{{ lt .Ready .Off }}",
     'template: :1:3: executing "" at <lt .Ready .Off>: error calling lt: invalid type for comparison'),
    ("{{ len .Size }}", 'template: :1:3: executing "" at <len .Size>: error calling len: len of type int'),
    ("{{ range .Name }}{{ end }}", 'template: :1:9: executing "" at <.Name>: range can\'t iterate over web'),
    ("{{ json 1i }}",
     'template: :1:3: executing "" at <json 1i>: error calling json: json: unsupported type: complex128'),
    ('{{ template "x" }}', 'template: :1:12: executing "" at <{{template "x"}}>: template "x" not defined'),
    ('{{ define "x" }}{{ .Nope.Deeper | lower }}{{ end }}{{ template "x" . }}',
     'template: :1:34: executing "x" at <lower>: invalid value; expected string'),
    ("line one\n  {{ if .Name }}\n{{ .Name 1 }}{{ end }}",
     'template: :3:3: executing "" at <.Name>: Name is not a method but has arguments'),
    ("\u65e5\u672c {{ .Name 1 }}", 'template: :1:10: executing "" at <.Name>: Name is not a method but has arguments'),
]


@pytest.mark.parametrize("template,message", EXECUTION_ERRORS)
def test_execution_errors(template, message):
    with pytest.raises(TemplateError) as caught:
        render(template, DATA)
    assert str(caught.value) == message


@pytest.mark.parametrize("template,message", [
    ("{{.Nope}}", 'template: :1:2: executing "" at <.Nope>: map has no entry for key "Nope"'),
    ("{{.Config.Nope}}", 'template: :1:9: executing "" at <.Config.Nope>: map has no entry for key "Nope"'),
    ("{{.Id}} {{eq .Size 6}}",
     'template: :1:10: executing "" at <eq .Size 6>: error calling eq: incompatible types for comparison'),
    ('{{range "ab"}}{{end}}', 'template: :1:8: executing "" at <"ab">: range can\'t iterate over ab'),
])
def test_render_image_inspect_errors_are_those_of_the_raw_fallback(template, message):
    with pytest.raises(TemplateError) as caught:
        render_image_inspect(template, INSPECT)
    assert str(caught.value) == message


def test_error_carries_line_column_and_reason():
    with pytest.raises(TemplateError) as caught:
        render("first\nsecond {{ .Name.Field }}", DATA)
    error = caught.value
    assert (error.line, error.column) == (2, 15)
    assert error.reason == "can't evaluate field Field in type interface {}"


def test_parse_error_carries_line_column_and_reason():
    with pytest.raises(TemplateError) as caught:
        parse("ok\n  {{ .A | nope }}")
    error = caught.value
    assert (error.line, error.column, error.reason) == (2, 10, 'function "nope" not defined')


def test_recursion_is_an_error_not_a_crash():
    with pytest.raises(TemplateError, match="exceeded maximum template depth"):
        render('{{define "r"}}{{template "r" .}}{{end}}{{template "r" .}}', DATA)
