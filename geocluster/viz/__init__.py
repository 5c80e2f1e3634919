"""Floor 5: maps (folium), the HTML report and its template, static map assets."""
