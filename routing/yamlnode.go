package routing

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// The YAML is read by goccy/go-yaml's parser, whose syntax errors carry the
// exact line (go.yaml.in/yaml/v3 often reports the line where the enclosing
// block starts, or none), and then walked by hand through the small node
// type below, so that every message names the field the way the file does.

type nodeKind uint8

const (
	scalarNode nodeKind = iota + 1
	mappingNode
	sequenceNode
)

// node is one YAML value: a scalar, a mapping (Content holds key, value,
// key, value, …) or a sequence.
type node struct {
	Kind    nodeKind
	Null    bool   // a null scalar (empty value, ~ or null)
	Value   string // a scalar's text
	Line    int
	Content []*node
}

// parseYAML parses data into its first document's root node (nil for an empty file).
func parseYAML(file string, data []byte) (*node, error) {
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		var se *yaml.SyntaxError
		if errors.As(err, &se) && se.Token != nil {
			return nil, &Error{File: file, Line: se.Token.Position.Line, Msg: strings.ReplaceAll(firstLine(se.Message), "\t", `\t`)}
		}
		return nil, &Error{File: file, Msg: firstLine(err.Error())}
	}
	if len(f.Docs) == 0 || f.Docs[0].Body == nil {
		return nil, nil
	}
	if len(f.Docs) > 1 {
		return nil, &Error{File: file, Line: line(f.Docs[1]), Msg: "more than one YAML document"}
	}
	c := converter{file: file, anchors: map[string]*node{}}
	return c.convert(f.Docs[0].Body)
}

func firstLine(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			return s[:i]
		}
	}
	return s
}

func line(n ast.Node) int {
	if t := n.GetToken(); t != nil && t.Position != nil {
		return t.Position.Line
	}
	return 0
}

type converter struct {
	file    string
	anchors map[string]*node
}

func (c *converter) convert(n ast.Node) (*node, error) {
	switch v := n.(type) {
	case *ast.MappingNode:
		out := &node{Kind: mappingNode, Line: line(v)}
		for _, mv := range v.Values {
			if err := c.pair(out, mv); err != nil {
				return nil, err
			}
		}
		return out, nil
	case *ast.MappingValueNode: // a mapping of one pair
		out := &node{Kind: mappingNode, Line: line(v.Key)}
		return out, c.pair(out, v)
	case *ast.SequenceNode:
		out := &node{Kind: sequenceNode, Line: line(v)}
		for _, item := range v.Values {
			cn, err := c.convert(item)
			if err != nil {
				return nil, err
			}
			out.Content = append(out.Content, cn)
		}
		return out, nil
	case *ast.SequenceEntryNode:
		return c.convert(v.Value)
	case *ast.AnchorNode:
		cn, err := c.convert(v.Value)
		if err != nil {
			return nil, err
		}
		c.anchors[v.Name.String()] = cn
		return cn, nil
	case *ast.AliasNode:
		cn := c.anchors[v.Value.String()]
		if cn == nil {
			return nil, &Error{File: c.file, Line: line(v), Msg: fmt.Sprintf("unknown alias *%s", v.Value.String())}
		}
		return cn, nil
	case *ast.TagNode:
		return c.convert(v.Value)
	case *ast.NullNode:
		return &node{Kind: scalarNode, Null: true, Line: line(v)}, nil
	case *ast.StringNode:
		return &node{Kind: scalarNode, Value: v.Value, Line: line(v)}, nil
	case *ast.LiteralNode:
		return &node{Kind: scalarNode, Value: v.Value.Value, Line: line(v)}, nil
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		return &node{Kind: scalarNode, Value: n.GetToken().Value, Line: line(n)}, nil
	case nil:
		return &node{Kind: scalarNode, Null: true}, nil
	}
	return nil, &Error{File: c.file, Line: line(n), Msg: "unsupported YAML here: " + strconv.Quote(firstLine(n.String()))}
}

func (c *converter) pair(out *node, mv *ast.MappingValueNode) error {
	if mv.Key.IsMergeKey() {
		return &Error{File: c.file, Line: line(mv.Key), Msg: "merge keys (<<) are not supported"}
	}
	k, err := c.convert(mv.Key)
	if err != nil {
		return err
	}
	var v *node
	if mv.Value == nil {
		v = &node{Kind: scalarNode, Null: true, Line: k.Line}
	} else if v, err = c.convert(mv.Value); err != nil {
		return err
	}
	if v.Line == 0 {
		v.Line = k.Line
	}
	out.Content = append(out.Content, k, v)
	return nil
}
