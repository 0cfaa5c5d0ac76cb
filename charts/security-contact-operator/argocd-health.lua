-- Argo CD health check for securitycontact.dev/SecurityContactPolicy.
--
-- Wire it in argocd-cm (see README.md):
--   resource.customizations.health.securitycontact.dev_SecurityContactPolicy: |
--     <this file>
--
-- Order matters. A status the operator has not yet caught up with (observedGeneration behind
-- metadata.generation) says nothing about the current spec, so it is Progressing before any
-- condition is read (kstatus does the same). Then: Stalled=True -> Degraded,
-- Reconciling=True -> Progressing, Ready reason Suspended -> Suspended, Ready=True -> Healthy,
-- anything else -> Progressing.

local function condition(conditions, type)
  if conditions == nil then
    return nil
  end
  for _, c in ipairs(conditions) do
    if c.type == type then
      return c
    end
  end
  return nil
end

local hs = { status = "Progressing", message = "Waiting for the operator to report status" }

if obj.status == nil then
  return hs
end

local generation = obj.metadata.generation
local observed = obj.status.observedGeneration
if generation ~= nil and observed ~= generation then
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

local conditions = obj.status.conditions
local stalled = condition(conditions, "Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = stalled.message or stalled.reason or "Stalled"
  return hs
end

local reconciling = condition(conditions, "Reconciling")
if reconciling ~= nil and reconciling.status == "True" then
  hs.message = reconciling.message or reconciling.reason or "Reconciling"
  return hs
end

local ready = condition(conditions, "Ready")
if ready ~= nil then
  if ready.reason == "Suspended" then
    hs.status = "Suspended"
    hs.message = ready.message or "Suspended"
    return hs
  end
  if ready.status == "True" then
    hs.status = "Healthy"
    hs.message = ready.message or ready.reason or "Ready"
    return hs
  end
  hs.message = ready.message or ready.reason or hs.message
end

return hs
