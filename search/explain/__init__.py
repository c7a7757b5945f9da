"""Why a picture matched a query: occlusion over the image tower's patch grid, mapped back onto
the original picture through the same resize and crop the embedding used."""
