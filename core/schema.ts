/**
 * A small typed schema for values written in a gadgetfile: stage options, publish targets, the
 * gadgetfile itself. Declared once, it gives both the TypeScript type (`Infer<typeof s>`) and the
 * run-time check (type checks are skipped when a gadgetfile is transpiled): unknown keys and
 * wrong types are problems naming the exact key path, as esbuild's option validation does.
 *
 *   const options = t.object({ tag: t.string(), insecure: t.boolean(), file: t.required(t.string()) });
 *   type Options = Infer<typeof options>;   // { tag?: string; insecure?: boolean; file: string }
 */

export type KeyPath = (string | number)[];

export interface Problem {
  path: KeyPath;
  message: string;
  /** The value at `path` is of the wrong type (not a wrong key or value inside it). */
  wrongType?: boolean;
}

interface Typed<T> {
  /** Only for type inference (never set). */
  readonly __type?: T;
}
export interface StringSchema<T = string> extends Typed<T> { readonly kind: "string" }
export interface BooleanSchema<T = boolean> extends Typed<T> { readonly kind: "boolean" }
export interface NumberSchema<T = number> extends Typed<T> { readonly kind: "number"; readonly integer: boolean; readonly min?: number; readonly max?: number }
export interface EnumSchema<T = string> extends Typed<T> { readonly kind: "enum"; readonly values: readonly string[] }
export interface ArraySchema<T = unknown[]> extends Typed<T> { readonly kind: "array"; readonly of: Schema }
export interface RecordSchema<T = Record<string, unknown>> extends Typed<T> { readonly kind: "record"; readonly of: Schema }
export interface ObjectSchema<T = Record<string, unknown>> extends Typed<T> { readonly kind: "object"; readonly fields: Readonly<Record<string, Field>>; readonly open?: boolean }
export interface AnySchema<T = unknown> extends Typed<T> { readonly kind: "any" }
export interface UnionSchema<T = unknown> extends Typed<T> { readonly kind: "union"; readonly name: string; readonly pick: (v: unknown) => Schema | string }

export type Schema<T = any> = StringSchema<T> | BooleanSchema<T> | NumberSchema<T> | EnumSchema<T> | ArraySchema<T> | RecordSchema<T> | ObjectSchema<T> | AnySchema<T> | UnionSchema<T>;

/** An object field: a schema, optionally marked required. */
export type Field = Schema | RequiredField<any>;
export interface RequiredField<T> {
  readonly kind: "required";
  readonly schema: Schema<T>;
}

/** The TypeScript type a schema describes. */
export type Infer<S> = S extends RequiredField<infer T> ? T : S extends Schema<infer T> ? T : never;

type RequiredKeys<F> = { [K in keyof F]: F[K] extends RequiredField<any> ? K : never }[keyof F];
type OptionalKeys<F> = Exclude<keyof F, RequiredKeys<F>>;
type Simplify<T> = { [K in keyof T]: T[K] } & {};
export type ObjectOf<F extends Record<string, Field>> = Simplify<{ [K in RequiredKeys<F>]: Infer<F[K]> } & { [K in OptionalKeys<F>]?: Infer<F[K]> }>;

export const t = {
  string: (): Schema<string> => ({ kind: "string" }),
  boolean: (): Schema<boolean> => ({ kind: "boolean" }),
  number: (o: { min?: number; max?: number } = {}): Schema<number> => ({ kind: "number", integer: false, ...o }),
  integer: (o: { min?: number; max?: number } = {}): Schema<number> => ({ kind: "number", integer: true, ...o }),
  enum: <const V extends string>(values: readonly V[]): Schema<V> => ({ kind: "enum", values }),
  array: <T>(of: Schema<T>): Schema<T[]> => ({ kind: "array", of }),
  record: <T>(of: Schema<T>): Schema<Record<string, T>> => ({ kind: "record", of }),
  /** Keys are optional unless wrapped in t.required(); other keys are errors. */
  object: <F extends Record<string, Field>>(fields: F): Schema<ObjectOf<F>> => ({ kind: "object", fields }),
  /** Any JSON-like value (free-form settings). */
  any: <T = unknown>(): Schema<T> => ({ kind: "any" }),
  /** A plain object with any keys. */
  anyObject: (): Schema<Record<string, unknown>> => ({ kind: "record", of: { kind: "any" } }),
  required: <T>(schema: Schema<T>): RequiredField<T> => ({ kind: "required", schema }),
  /** One of several shapes, chosen by `pick` (which may return a message instead). */
  union: <T>(name: string, pick: (v: unknown) => Schema | string): Schema<T> => ({ kind: "union", name, pick }),
};

function fieldSchema(f: Field): Schema {
  return f.kind === "required" ? f.schema : f;
}

export function formatKeyPath(path: KeyPath): string {
  let s = "";
  for (const p of path) s += typeof p === "number" ? `[${p}]` : s ? `.${p}` : p;
  return s || "(root)";
}

function typeName(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "object") return "an object";
  return `a ${typeof v}`;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** The first problem found (depth-first, in key order), or undefined. */
export function checkSchema(value: unknown, schema: Schema, path: KeyPath = []): Problem | undefined {
  switch (schema.kind) {
    case "string":
      return typeof value === "string" ? undefined : { path, message: `expected a string, got ${typeName(value)}`, wrongType: true };
    case "boolean":
      return typeof value === "boolean" ? undefined : { path, message: `expected true or false, got ${typeName(value)}`, wrongType: true };
    case "number": {
      if (typeof value !== "number" || !Number.isFinite(value)) return { path, message: `expected a number, got ${typeName(value)}`, wrongType: true };
      if (schema.integer && !Number.isInteger(value)) return { path, message: `expected a whole number, got ${value}` };
      if (schema.min !== undefined && value < schema.min) return { path, message: `expected at least ${schema.min}, got ${value}` };
      if (schema.max !== undefined && value > schema.max) return { path, message: `expected at most ${schema.max}, got ${value}` };
      return undefined;
    }
    case "enum":
      return typeof value === "string" && schema.values.includes(value) ? undefined : { path, message: `expected one of ${schema.values.join(", ")}, got ${JSON.stringify(value)}` };
    case "any":
      return undefined;
    case "array": {
      if (!Array.isArray(value)) return { path, message: `expected an array, got ${typeName(value)}`, wrongType: true };
      for (let i = 0; i < value.length; i++) {
        const p = checkSchema(value[i], schema.of, [...path, i]);
        if (p) return p;
      }
      return undefined;
    }
    case "record": {
      if (!isPlainObject(value)) return { path, message: `expected an object, got ${typeName(value)}`, wrongType: true };
      for (const [k, v] of Object.entries(value)) {
        const p = checkSchema(v, schema.of, [...path, k]);
        if (p) return p;
      }
      return undefined;
    }
    case "object": {
      if (!isPlainObject(value)) return { path, message: `expected an object, got ${typeName(value)}`, wrongType: true };
      if (!schema.open) {
        for (const k of Object.keys(value)) {
          if (!Object.hasOwn(schema.fields, k)) {
            const known = Object.keys(schema.fields);
            return { path: [...path, k], message: `unknown key ${JSON.stringify(k)} (${known.length ? `known keys: ${known.join(", ")}` : "it takes no keys"})` };
          }
        }
      }
      for (const [k, f] of Object.entries(schema.fields)) {
        if (f.kind === "required" && value[k] === undefined) return { path: [...path, k], message: `missing required key ${JSON.stringify(k)}` };
      }
      for (const [k, f] of Object.entries(schema.fields)) {
        if (value[k] === undefined) continue;
        const p = checkSchema(value[k], fieldSchema(f), [...path, k]);
        if (p) return p;
      }
      return undefined;
    }
    case "union": {
      const s = schema.pick(value);
      if (typeof s === "string") return { path, message: s };
      const p = checkSchema(value, s, path);
      return p?.wrongType && p.path.length === path.length ? { path, message: `expected ${schema.name}, got ${typeName(value)}`, wrongType: true } : p;
    }
  }
}

/** The same object schema with extra fields (e.g. a publish target's `type`). */
export function extendObject(schema: Schema, fields: Record<string, Field>): Schema {
  if (schema.kind !== "object") return schema;
  return { kind: "object", fields: { ...fields, ...schema.fields } };
}

/** Whether a value is a schema built with `t` (plugins are checked when they load). */
export function isSchema(v: unknown): v is Schema {
  const k = (v as { kind?: unknown } | null)?.kind;
  return typeof k === "string" && ["string", "boolean", "number", "enum", "array", "record", "object", "any", "union"].includes(k);
}
