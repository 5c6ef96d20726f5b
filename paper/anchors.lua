-- pandoc Lua filter for the proof appendices (lth paper build).
-- Run with --from markdown-blank_before_header (the proofs put the anchor on the line just
-- above its heading). A paragraph holding only <a id="CLAIM"></a> (the claim anchors of proofs/*.md, see lth/audit.py)
-- becomes \label{proof:CLAIM} inside the heading that follows it, so \claim{CLAIM} can link its
-- proof; heading identifiers get the file's name as prefix (or the metadata field anchor-prefix,
-- which lth paper sets to the distribution and file of another package's proof file), so that the
-- appendices, converted one file at a time, never define the same label twice.

local stem = PANDOC_STATE.input_files[1]:match("([^/]+)%.md$") or "proof"

local function anchor_id(block)
  if block.t == "RawBlock" then
    return block.text:match('^<a%s+id="([^"]+)"%s*>%s*</a>$')
  end
  if block.t ~= "Para" and block.t ~= "Plain" then
    return nil
  end
  local parts = {}
  for _, inline in ipairs(block.content) do
    if inline.t == "RawInline" then
      table.insert(parts, inline.text)
    elseif inline.t ~= "Space" and inline.t ~= "SoftBreak" then
      return nil
    end
  end
  return table.concat(parts):match('^<a%s+id="([^"]+)"%s*>%s*</a>$')
end

function Pandoc(doc)
  local prefix = doc.meta["anchor-prefix"] and pandoc.utils.stringify(doc.meta["anchor-prefix"]) or stem
  local blocks = pandoc.List()
  local pending = nil
  for _, block in ipairs(doc.blocks) do
    local id = anchor_id(block)
    if id then
      pending = id
    else
      if block.t == "Header" then
        block.identifier = prefix .. "-" .. block.identifier
        if pending then
          block.content:insert(pandoc.RawInline("latex", "\\label{proof:" .. pending .. "}"))
          pending = nil
        end
      elseif pending then
        blocks:insert(pandoc.RawBlock("latex", "\\phantomsection\\label{proof:" .. pending .. "}"))
        pending = nil
      end
      blocks:insert(block)
    end
  end
  return pandoc.Pandoc(blocks, doc.meta)
end
