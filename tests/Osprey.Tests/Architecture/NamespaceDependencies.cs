using Mono.Cecil;
using Mono.Cecil.Cil;

namespace Osprey.Tests.Architecture;

/// <summary>
/// The namespace-to-namespace dependencies of a built assembly, read from its IL: every type a type's
/// signatures, attributes and method bodies name, so a dependency hidden in a method body counts too.
/// </summary>
internal static class NamespaceDependencies
{
    /// <summary>
    /// Each dependency between two namespaces under <paramref name="prefix"/>, with one example of where it is
    /// (<c>Type.Member uses Type</c>) for the failure message.
    /// </summary>
    public static IReadOnlyDictionary<(string From, string To), string> Read(string assemblyPath, string prefix)
    {
        var edges = new Dictionary<(string From, string To), string>();
        using var module = ModuleDefinition.ReadModule(assemblyPath);
        foreach (var type in module.GetTypes())
        {
            var from = NamespaceOf(type);
            if (!from.StartsWith(prefix, StringComparison.Ordinal))
            {
                continue;
            }

            var visitor = new Visitor(edges, from, prefix);
            visitor.Visit(type);
        }

        return edges;
    }

    /// <summary>The namespace of a type, a nested type's being its outermost declaring type's.</summary>
    public static string NamespaceOf(TypeReference type)
    {
        while (type.DeclaringType is not null)
        {
            type = type.DeclaringType;
        }

        return type.Namespace;
    }

    private sealed class Visitor(Dictionary<(string From, string To), string> edges, string from, string prefix)
    {
        private string _where = "";

        public void Visit(TypeDefinition type)
        {
            _where = type.FullName;
            Use(type.BaseType);
            foreach (var implemented in type.Interfaces)
            {
                Use(implemented.InterfaceType);
            }

            Attributes(type.CustomAttributes);
            foreach (var field in type.Fields)
            {
                _where = $"{type.FullName}.{field.Name}";
                Use(field.FieldType);
                Attributes(field.CustomAttributes);
            }

            foreach (var property in type.Properties)
            {
                _where = $"{type.FullName}.{property.Name}";
                Use(property.PropertyType);
                Attributes(property.CustomAttributes);
            }

            foreach (var method in type.Methods)
            {
                _where = $"{type.FullName}.{method.Name}";
                Method(method);
                Attributes(method.CustomAttributes);
                if (!method.HasBody)
                {
                    continue;
                }

                foreach (var variable in method.Body.Variables)
                {
                    Use(variable.VariableType);
                }

                foreach (var instruction in method.Body.Instructions)
                {
                    Operand(instruction);
                }
            }
        }

        private void Operand(Instruction instruction)
        {
            switch (instruction.Operand)
            {
                case TypeReference type:
                    Use(type);
                    break;
                case MethodReference method:
                    Method(method);
                    break;
                case FieldReference field:
                    Use(field.DeclaringType);
                    Use(field.FieldType);
                    break;
            }
        }

        private void Method(MethodReference method)
        {
            Use(method.DeclaringType);
            Use(method.ReturnType);
            foreach (var parameter in method.Parameters)
            {
                Use(parameter.ParameterType);
            }

            if (method is GenericInstanceMethod generic)
            {
                foreach (var argument in generic.GenericArguments)
                {
                    Use(argument);
                }
            }
        }

        private void Attributes(IEnumerable<CustomAttribute> attributes)
        {
            foreach (var attribute in attributes)
            {
                Use(attribute.AttributeType);
            }
        }

        private void Use(TypeReference? type)
        {
            switch (type)
            {
                case null or GenericParameter:
                    return;
                case GenericInstanceType generic:
                    Use(generic.ElementType);
                    foreach (var argument in generic.GenericArguments)
                    {
                        Use(argument);
                    }

                    return;
                case TypeSpecification specification:
                    Use(specification.ElementType);
                    return;
            }

            var to = NamespaceOf(type);
            if (to != from && to.StartsWith(prefix, StringComparison.Ordinal))
            {
                edges.TryAdd((from, to), $"{_where} uses {type.FullName}");
            }
        }
    }
}
