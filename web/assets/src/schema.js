// Completion and hover for process definitions from the format's JSON Schema
// (GET /api/definitions/schema, what `forlob schema` prints). The definitions are written in
// block style, so where the cursor is in the document is read from indentation: the keys of
// the lines above with less indent, and `- ` items on the way. Flow mappings (`{ a: 1 }`) get
// no completion: their keys are few and shown by hover on the block key above.
//
// Why not codemirror-json-schema: it bundles shiki and markdown-it for its tooltips, which
// would multiply the workbench's bundle for what is here a few dozen lines over the schema.

import { EditorState } from "@codemirror/state";
import { hoverTooltip } from "@codemirror/view";

const KEY = /^(\s*)(- +)?([\w-]+)\s*:/;

// The keys leading to line `number` (1-based) of `doc` at `indent`, outermost first; `[]`
// for an item of a sequence.
export function pathAt(doc, number, indent) {
  const path = [];
  let target = indent;
  for (let n = number - 1; n >= 1 && target > 0; n -= 1) {
    const line = doc.line(n).text;
    if (!line.trim() || line.trimStart().startsWith("#")) {
      continue;
    }
    const found = KEY.exec(line) ?? /^(\s*)(- +)/.exec(line);
    if (!found) {
      continue;
    }
    const lineIndent = found[1].length;
    const dash = found[2];
    const content = lineIndent + (dash?.length ?? 0);
    if (dash && content <= target) {
      // Inside this item: under its key when deeper than the key, beside it when level.
      if (content < target && found[3]) {
        path.push(found[3]);
      }
      path.push("[]");
      target = lineIndent;
    } else if (!dash && lineIndent < target && found[3]) {
      path.push(found[3]);
      target = lineIndent;
    }
  }
  return path.reverse();
}

// A schema with its `$ref` followed and its `anyOf`/`oneOf`/`allOf` branches merged, so the
// properties of every branch are offered.
function resolve(root, schema, seen = 0) {
  if (!schema || typeof schema !== "object" || seen > 20) {
    return {};
  }
  if (schema.$ref) {
    const name = schema.$ref.split("/").pop();
    const target = (root.$defs ?? root.definitions ?? {})[name];
    return resolve(root, { ...target, ...schema, $ref: undefined, description: schema.description ?? target?.description }, seen + 1);
  }
  const branches = [...(schema.anyOf ?? []), ...(schema.oneOf ?? []), ...(schema.allOf ?? [])];
  if (!branches.length) {
    return schema;
  }
  const merged = { ...schema, anyOf: undefined, oneOf: undefined, allOf: undefined, properties: { ...schema.properties } };
  for (const branch of branches) {
    const b = resolve(root, branch, seen + 1);
    Object.assign(merged.properties, b.properties ?? {});
    merged.items ??= b.items;
    merged.additionalProperties ??= b.additionalProperties;
    merged.enum ??= b.enum;
    merged.description ??= b.description;
  }
  return merged;
}

// The schema at `path` below the root, or null when the path leaves what the schema knows.
export function schemaAt(root, path) {
  let node = resolve(root, root);
  for (const step of path) {
    if (step === "[]") {
      node = resolve(root, node.items);
    } else if (node.properties?.[step]) {
      node = resolve(root, node.properties[step]);
    } else if (node.additionalProperties && typeof node.additionalProperties === "object") {
      node = resolve(root, node.additionalProperties);
    } else {
      return null;
    }
  }
  return node;
}

function typeOf(schema) {
  const type = [schema.type].flat().filter((t) => t && t !== "null");
  return type.join(" | ") || (schema.enum ? "enum" : "");
}

// Completion of keys (at the start of a line or after `- `) and of enum values after `key: `.
function complete(schema) {
  return (context) => {
    const root = schema();
    if (!root) {
      return null;
    }
    const line = context.state.doc.lineAt(context.pos);
    const before = line.text.slice(0, context.pos - line.from);
    const key = /^(\s*)(- +)?([\w-]*)$/.exec(before);
    if (key) {
      const indent = key[1].length + (key[2]?.length ?? 0);
      let path = pathAt(context.state.doc, line.number, indent);
      if (key[2]) {
        // A new item: the keys of the sequence's items.
        path = pathAt(context.state.doc, line.number, key[1].length).concat(["[]"]);
      }
      const node = schemaAt(root, path);
      const properties = Object.entries(node?.properties ?? {});
      if (!properties.length || (!context.explicit && !key[3])) {
        return null;
      }
      return {
        from: context.pos - key[3].length,
        options: properties.map(([name, schema]) => {
          const resolved = resolve(root, schema);
          return {
            label: name,
            apply: `${name}: `,
            type: "property",
            detail: typeOf(resolved),
            info: resolved.description,
          };
        }),
        validFor: /^[\w-]*$/,
      };
    }
    const value = /^(\s*)(- +)?([\w-]+)\s*:\s*([\w-]*)$/.exec(before);
    if (value) {
      const indent = value[1].length + (value[2]?.length ?? 0);
      const node = schemaAt(root, [...pathAt(context.state.doc, line.number, indent), value[3]]);
      if (!node?.enum) {
        return null;
      }
      return {
        from: context.pos - value[4].length,
        options: node.enum.filter((v) => v !== null).map((v) => ({ label: String(v), type: "enum" })),
      };
    }
    return null;
  };
}

// What a key means, shown when the pointer rests on it.
function hover(schema) {
  return hoverTooltip((view, pos) => {
    const root = schema();
    if (!root) {
      return null;
    }
    const line = view.state.doc.lineAt(pos);
    const found = KEY.exec(line.text);
    if (!found) {
      return null;
    }
    const start = line.from + found[1].length + (found[2]?.length ?? 0);
    const end = start + found[3].length;
    if (pos < start || pos > end) {
      return null;
    }
    const indent = start - line.from;
    const node = schemaAt(root, [...pathAt(view.state.doc, line.number, indent), found[3]]);
    if (!node?.description) {
      return null;
    }
    return {
      pos: start,
      end,
      above: true,
      create() {
        const dom = document.createElement("div");
        dom.className = "cm-schema-hover";
        const type = typeOf(node);
        dom.textContent = type ? `${found[3]} (${type}): ${node.description}` : `${found[3]}: ${node.description}`;
        return { dom };
      },
    };
  });
}

// The editor extensions over `schema()`, the schema once fetched (null before, or when it
// could not be: the editor works without them). Completion goes through the language data,
// so the basic setup's autocompletion offers it.
export function schemaAssistance(schema) {
  return [EditorState.languageData.of(() => [{ autocomplete: complete(schema) }]), hover(schema)];
}
