using System.Reflection;
using System.Reflection.Emit;

namespace SockWatch.Agent.Tests.Architecture;

/// <summary>
/// Dependencies between the Agent's namespaces point one way: no namespace reaches back, through
/// any chain, to one that uses it. Read from the compiled assembly (every signature, local and
/// IL operand of every type, compiler-generated ones included), so a reference by a fully
/// qualified name, a lambda or an iterator counts as much as a using directive.
/// </summary>
public sealed class NamespaceDependencyTests
{
    private static readonly Assembly Agent = typeof(SockWatch.Agent.Polling.PollPipeline).Assembly;

    private static readonly Dictionary<short, OpCode> OpCodesByValue = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!)
        .ToDictionary(o => o.Value);

    [Fact]
    public void The_agents_namespaces_form_no_cycle()
    {
        var edges = Dependencies();
        var cycle = FindCycle(edges);
        Assert.True(cycle is null, "namespace cycle: " + (cycle is null ? "" : string.Join(" -> ", cycle) + Environment.NewLine + Explain(edges, cycle)));
    }

    [Fact]
    public void The_walk_sees_references_made_only_inside_method_bodies()
    {
        // The daemon's loop builds its pipeline inside a method body: the walk must find it.
        var edges = Dependencies();
        Assert.Contains("SockWatch.Agent.Polling", edges["SockWatch.Agent.Daemon"].Keys);
    }

    /// <summary>For each namespace, the namespaces it uses, each with one example (the using type and the used type).</summary>
    private static Dictionary<string, Dictionary<string, string>> Dependencies()
    {
        var edges = new Dictionary<string, Dictionary<string, string>>(StringComparer.Ordinal);
        foreach (var type in Agent.GetTypes())
        {
            var from = NamespaceOf(type);
            if (from is null)
            {
                continue;
            }

            if (!edges.TryGetValue(from, out var uses))
            {
                edges[from] = uses = new(StringComparer.Ordinal);
            }

            foreach (var used in Referenced(type))
            {
                if (NamespaceOf(used) is { } to && to != from)
                {
                    uses.TryAdd(to, $"{type.FullName} uses {used.FullName}");
                }
            }
        }

        return edges;
    }

    /// <summary>The namespace a type of the Agent belongs to (nested and compiler-generated types: their outermost declaring type's); null for other assemblies' types.</summary>
    private static string? NamespaceOf(Type type)
    {
        while (type.DeclaringType is { } outer)
        {
            type = outer;
        }

        return type.Assembly == Agent && type.Namespace is { } ns && ns.StartsWith("SockWatch.Agent", StringComparison.Ordinal) ? ns : null;
    }

    private static IEnumerable<Type> Referenced(Type type)
    {
        const BindingFlags All = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        var found = new List<Type>();
        if (type.BaseType is { } baseType)
        {
            found.Add(baseType);
        }

        found.AddRange(type.GetInterfaces());
        found.AddRange(type.GetFields(All).Select(f => f.FieldType));
        found.AddRange(type.GetProperties(All).Select(p => p.PropertyType));
        foreach (var method in type.GetMethods(All).Cast<MethodBase>().Concat(type.GetConstructors(All)))
        {
            found.AddRange(method.GetParameters().Select(p => p.ParameterType));
            if (method is MethodInfo info)
            {
                found.Add(info.ReturnType);
            }

            if (method.GetMethodBody() is { } body)
            {
                found.AddRange(body.LocalVariables.Select(l => l.LocalType));
                found.AddRange(Operands(method, body.GetILAsByteArray() ?? []));
            }
        }

        return found.SelectMany(Flatten);
    }

    /// <summary>A type and every type its generic arguments, element types and parameters name.</summary>
    private static IEnumerable<Type> Flatten(Type type)
    {
        yield return type;
        if (type.HasElementType && type.GetElementType() is { } element)
        {
            foreach (var t in Flatten(element))
            {
                yield return t;
            }
        }

        if (type.IsGenericType && !type.IsGenericTypeDefinition)
        {
            foreach (var t in type.GetGenericArguments().SelectMany(Flatten))
            {
                yield return t;
            }
        }
    }

    /// <summary>The declaring types of the members and the types an IL body names in its operands.</summary>
    private static List<Type> Operands(MethodBase method, byte[] il)
    {
        var found = new List<Type>();
        var typeArgs = method.DeclaringType is { IsGenericType: true } d ? d.GetGenericArguments() : null;
        var methodArgs = method.IsGenericMethod ? method.GetGenericArguments() : null;
        var i = 0;
        while (i < il.Length)
        {
            short value = il[i++];
            if (value == 0xFE)
            {
                value = (short)(0xFE00 | il[i++]);
            }

            var op = OpCodesByValue[value];
            var size = op.OperandType switch
            {
                OperandType.InlineNone => 0,
                OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar => 1,
                OperandType.InlineVar => 2,
                OperandType.InlineI8 or OperandType.InlineR => 8,
                OperandType.InlineSwitch => 4 + (4 * BitConverter.ToInt32(il, i)),
                _ => 4,
            };
            if (op.OperandType is OperandType.InlineMethod or OperandType.InlineField or OperandType.InlineType or OperandType.InlineTok)
            {
                try
                {
                    switch (method.Module.ResolveMember(BitConverter.ToInt32(il, i), typeArgs, methodArgs))
                    {
                        case Type t:
                            found.Add(t);
                            break;
                        case MethodBase m:
                            found.Add(m.DeclaringType!);
                            if (m.IsGenericMethod)
                            {
                                found.AddRange(m.GetGenericArguments());
                            }

                            break;
                        case MemberInfo member when member.DeclaringType is { } declaring:
                            found.Add(declaring);
                            break;
                    }
                }
                catch (ArgumentException)
                {
                    // A token of another generic context; its declaring type shows up elsewhere.
                }
            }

            i += size;
        }

        return found;
    }

    private static List<string>? FindCycle(Dictionary<string, Dictionary<string, string>> edges)
    {
        var state = new Dictionary<string, int>(StringComparer.Ordinal); // 1: on the path, 2: done
        var path = new List<string>();

        List<string>? Visit(string node)
        {
            state[node] = 1;
            path.Add(node);
            foreach (var next in edges.GetValueOrDefault(node)?.Keys ?? Enumerable.Empty<string>())
            {
                if (state.GetValueOrDefault(next) == 1)
                {
                    return [.. path.Skip(path.IndexOf(next)), next];
                }

                if (state.GetValueOrDefault(next) == 0 && Visit(next) is { } cycle)
                {
                    return cycle;
                }
            }

            path.RemoveAt(path.Count - 1);
            state[node] = 2;
            return null;
        }

        foreach (var node in edges.Keys.Order(StringComparer.Ordinal))
        {
            if (state.GetValueOrDefault(node) == 0 && Visit(node) is { } cycle)
            {
                return cycle;
            }
        }

        return null;
    }

    /// <summary>The cycle's edges with an example each, then every edge, so that one failure shows the whole picture.</summary>
    private static string Explain(Dictionary<string, Dictionary<string, string>> edges, List<string> cycle) =>
        string.Join(Environment.NewLine, cycle.Zip(cycle.Skip(1)).Select(p => $"  {p.First} -> {p.Second}: {edges[p.First][p.Second]}"))
        + Environment.NewLine + "every dependency:" + Environment.NewLine
        + string.Join(Environment.NewLine, edges.OrderBy(e => e.Key, StringComparer.Ordinal).SelectMany(e => e.Value.Keys.Order(StringComparer.Ordinal).Select(to => $"  {e.Key} -> {to}: {e.Value[to]}")));
}
