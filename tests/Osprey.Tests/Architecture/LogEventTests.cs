using System.Reflection;
using Mono.Cecil;
using Osprey.Feeds;
using Osprey.Runtime;

namespace Osprey.Tests.Architecture;

/// <summary>Every log event has its own id, and every id is in the one table, <see cref="LogEvents"/>.</summary>
public class LogEventTests
{
    [Fact]
    public void EveryLoggerMessage_HasAnIdOfItsOwnFromTheTable()
    {
        var table = typeof(LogEvents).GetFields(BindingFlags.Public | BindingFlags.Static)
            .ToDictionary(f => (int)f.GetRawConstantValue()!, f => f.Name);
        var seen = new Dictionary<int, string>();
        foreach (var path in new[] { typeof(Feed).Assembly.Location, Path.Combine(AppContext.BaseDirectory, "osprey.dll") })
        {
            using var module = ModuleDefinition.ReadModule(path);
            foreach (var method in module.GetTypes().SelectMany(t => t.Methods))
            {
                var attribute = method.CustomAttributes.FirstOrDefault(a => a.AttributeType.Name == "LoggerMessageAttribute");
                if (attribute is null)
                {
                    continue;
                }

                var id = attribute.ConstructorArguments.Count > 0 ? (int)attribute.ConstructorArguments[0].Value
                    : (int)attribute.Properties.Single(p => p.Name == "EventId").Argument.Value;
                var where = $"{method.DeclaringType.FullName}.{method.Name}";
                Assert.True(seen.TryAdd(id, where), $"event id {id} is used by {seen.GetValueOrDefault(id)} and {where}");
                Assert.True(table.ContainsKey(id), $"event id {id} of {where} is not in LogEvents");
            }
        }

        Assert.True(seen.Count >= 40, $"only {seen.Count} logger messages found");
        Assert.Equal(table.Keys.Order(), seen.Keys.Order()); // no id in the table that nothing logs
    }
}
